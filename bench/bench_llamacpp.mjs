// llama.cpp side of the engine benchmark (through node-llama-cpp's prebuilt CPU
// binary): prefill tokens/s, greedy decode tokens/s and B-sequence batch decode
// throughput on a GGUF file, with the same synthetic prompt ids as bench_engine.c.
// Prints one JSON line per measurement. --check TEXT --expect IDS verifies the
// conversion instead: greedy continuation ids must equal the given ones. Every line
// carries the GGUF's weight format (general.file_type) as "gguf_type".
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function parseArgs(argv) {
  const a = { threads: 1, prompt: 128, decode: 64, batch: 1, ctx: 0, reps: 1, label: "", dtype: "" };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    const num = () => { i++; const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new Error(`bad ${k}: ${v}`); return n; };
    if (k === "--model") { a.model = v; i++; }
    else if (k === "--threads") a.threads = num();
    else if (k === "--prompt") a.prompt = num();
    else if (k === "--decode") a.decode = num();
    else if (k === "--batch") a.batch = num();
    else if (k === "--ctx") a.ctx = num();
    else if (k === "--reps") a.reps = num();
    else if (k === "--label") { a.label = v; i++; }
    else if (k === "--dtype") { a.dtype = v; i++; }
    else if (k === "--check") { a.check = v; i++; }
    else if (k === "--expect") { a.expect = v.split(",").map(Number); i++; }
    else if (k === "--expect-input") { a.expectInput = v.split(",").map(Number); i++; }
    else throw new Error(`unknown option ${k}`);
  }
  if (!a.model) throw new Error("--model FILE.gguf is required");
  return a;
}

// Same formula as bench_engine.c: ids spread over the vocabulary, avoiding the
// first 3 (special in Llama vocabularies) and the last (GPT-2 end of text).
export function promptIds(n, vocab) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(3 + ((i * 7919 + 13) % (vocab - 4)));
  return out;
}

// llama_ftype values of the formats tools/st_to_gguf.py writes
const FILE_TYPES = { 0: "F32", 1: "F16", 7: "Q8_0", 32: "BF16" };

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function greedy(seq, tokens, steps, onFirst) {
  const got = [];
  if (steps === 0) return got;
  for await (const t of seq.evaluate(tokens, { temperature: 0 })) {
    if (got.length === 0 && onFirst) onFirst();
    got.push(t);
    if (got.length >= steps) break;
  }
  return got;
}

async function main() {
  const a = parseArgs(process.argv);
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: a.threads });
  const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
  const vocab = model.fileInsights.modelInfo?.vocab_size ?? model.tokens.size ?? 0;
  const nvocab = Number(model.fileInfo.metadata?.llama?.vocab_size ??
    model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? vocab);
  const ft = model.fileInfo.metadata?.general?.file_type;
  const ggufType = FILE_TYPES[ft] ?? `file_type ${ft}`;
  const ctxSize = a.ctx || (a.prompt + a.decode + 8);
  const context = await model.createContext({
    contextSize: ctxSize, batchSize: Math.max(a.prompt, 8), sequences: Math.max(a.batch, 1),
    threads: a.threads, flashAttention: false, batching: { dispatchSchedule: "nextCycle" },
    // our engine keeps its KV cache in F32; make llama.cpp do the same
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
  });

  if (a.check !== undefined) {
    const seq = context.getSequence();
    const input = [model.tokens.bos, ...model.tokenize(a.check)];
    const got = await greedy(seq, input, a.expect ? a.expect.length : a.decode);
    const okIn = !a.expectInput || JSON.stringify(input) === JSON.stringify(a.expectInput);
    const ok = okIn && (!a.expect || JSON.stringify(got) === JSON.stringify(a.expect));
    console.log(JSON.stringify({ engine: "llama.cpp", gguf_type: ggufType, check: a.check, input, greedy: got,
      text: model.detokenize(got), input_ok: okIn, ok }));
    process.exitCode = ok ? 0 : 1;
    return;
  }

  const prompt = promptIds(a.prompt, nvocab);
  const base = { engine: "llama.cpp", label: a.label, dtype: a.dtype, gguf_type: ggufType, threads: a.threads };
  for (let r = 0; r < a.reps; r++) {
    if (a.batch <= 1) {
      const seq = context.getSequence();
      let t0 = now();
      await seq.evaluateWithoutGeneratingNewTokens(prompt);
      const tPrefill = now() - t0;
      await seq.clearHistory();
      // decode: first token costs a prefill; time the M-1 steps after it
      let tFirst = 0;
      t0 = now();
      const got = await greedy(seq, prompt, a.decode, () => { tFirst = now(); });
      const tDec = now() - tFirst;
      seq.dispose();
      console.log(JSON.stringify({ ...base, prefill_tokens: a.prompt, prefill_s: tPrefill,
        prefill_tps: a.prompt / tPrefill, decode_steps: got.length - 1, decode_s: tDec,
        decode_tps: (got.length - 1) / tDec, first_ids: got.slice(0, 8) }));
    } else {
      // B sequences, each a short distinct prompt, decoding concurrently
      const seqs = [];
      for (let b = 0; b < a.batch; b++) seqs.push(context.getSequence());
      const firsts = [];
      const t0 = now();
      const outs = await Promise.all(seqs.map((s, b) =>
        greedy(s, promptIds(16, nvocab).map((x) => 3 + ((x - 3 + b) % (nvocab - 4))), a.decode,
          () => firsts.push(now()))));
      const t1 = now();
      const tStart = Math.max(...firsts);
      const steps = outs.reduce((n, o) => n + o.length - 1, 0);
      for (const s of seqs) s.dispose();
      console.log(JSON.stringify({ ...base, batch: a.batch, decode_steps: a.decode, total_s: t1 - t0,
        batch_decode_tps: steps / (t1 - tStart) }));
    }
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((e) => { console.error(`bench_llamacpp: ${e.message}`); process.exitCode = 2; });
