// Peer side of the embeddings benchmark (bench/bench_embed.sh): runs the ONNX export of
// the BERT-base-shaped model (bench_embed_peer.py --export-onnx) in onnxruntime-node on
// the CPU with N intra-op threads, same token ids as bench_embed.c, batch B x 128 tokens.
// Prints one JSON line per batch size like bench_embed.c. Not a test.
import ort from 'onnxruntime-node';

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const model = arg('--model');
const threads = Number(arg('--threads', 2));
const seq = Number(arg('--seq', 128));
const vocab = Number(arg('--vocab', 30522));
const minS = Number(arg('--min-seconds', 5));
const batches = process.argv.flatMap((a, i) => (a === '--batch' ? [Number(process.argv[i + 1])] : []));

function seqIds(n, j) { // same formula as bench_embed.c
  const ids = [101];
  for (let i = 1; i < n - 1; i++) ids.push(1000 + Number((BigInt(i) * 7919n + BigInt(j) * 104729n + 13n) % BigInt(vocab - 1000)));
  ids.push(102);
  return ids;
}

const sess = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
for (const B of batches.length ? batches : [1, 32]) {
  const ids = BigInt64Array.from(Array.from({ length: B }, (_, j) => seqIds(seq, j)).flat().map(BigInt));
  const feeds = { input_ids: new ort.Tensor('int64', ids, [B, seq]),
                  attention_mask: new ort.Tensor('int64', new BigInt64Array(B * seq).fill(1n), [B, seq]) };
  let out = await sess.run(feeds); // warm-up
  let reps = 0; const t0 = performance.now(); let t1 = t0;
  while (reps < 1 || (t1 - t0) / 1e3 < minS) { out = await sess.run(feeds); reps++; t1 = performance.now(); }
  const s = (t1 - t0) / 1e3;
  const e = out.sentence_embedding.data;
  console.log(JSON.stringify({ engine: `onnxruntime-node-${ort.env.versions?.common ?? '1.22.0'}`, threads, batch: B, seq, reps,
    ms_per_batch: Number((s * 1e3 / reps).toFixed(2)), sentences_per_s: Number((B * reps / s).toFixed(2)),
    first: Array.from(e.slice(0, 8), (x) => Number(x.toFixed(6))) }));
}
