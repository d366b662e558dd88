// Real npm clients against `endpointd runtime` (stories260K): @huggingface/inference
// InferenceClient textGeneration / textGenerationStream / chatCompletion with
// endpointUrl, and the openai SDK (baseURL = runtime + /v1), stream and not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { InferenceClient } from "@huggingface/inference";
import OpenAI from "openai";

const SRC = process.env.EP_SOURCE_DIR || path.resolve(import.meta.dirname, "../..");
const BIN = process.env.ENDPOINTD_BIN || path.join(SRC, "build", "endpointd");
const TESTDATA = process.env.EP_TESTDATA || path.join(SRC, "tests", "data");
const golden = JSON.parse(readFileSync(path.join(TESTDATA, "stories260K-greedy.json"), "utf8")).cases;
const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + " +
  "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let proc, url, dir;

before(async () => {
  assert.ok(existsSync(BIN), `endpointd binary not found: ${BIN}`);
  dir = mkdtempSync(path.join(tmpdir(), "ep-rt-js-"));
  const model = path.join(dir, "stories-chat");
  cpSync(path.join(SRC, "models", "stories260K"), model, { recursive: true });
  const cfgPath = path.join(model, "tokenizer_config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.chat_template = CHATML;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  proc = spawn(BIN, ["runtime", "--model", model, "--port", "0", "--threads", "1",
                     "--parent-pid", String(process.pid)], { stdio: ["ignore", "pipe", "ignore"] });
  const rl = createInterface({ input: proc.stdout });
  url = await new Promise((resolve, reject) => {
    rl.once("line", (l) => (l.includes("listening on") ? resolve(l.split("listening on ")[1].trim()) : reject(new Error(l))));
    proc.once("exit", (c) => reject(new Error("runtime exited " + c)));
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url + "/health")).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("runtime not healthy");
});

after(() => {
  proc?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("InferenceClient.textGeneration with endpointUrl (greedy golden)", async () => {
  const c = new InferenceClient();
  const g = golden[1];
  const out = await c.textGeneration({
    endpointUrl: url,
    inputs: g.prompt,
    parameters: { max_new_tokens: 64, do_sample: false, return_full_text: false },
  });
  assert.equal(out.generated_text.trimStart(), g.greedy_text);
});

test("InferenceClient.textGenerationStream", async () => {
  const c = new InferenceClient();
  const g = golden[2];
  let text = "";
  let n = 0;
  for await (const ev of c.textGenerationStream({
    endpointUrl: url,
    inputs: g.prompt,
    parameters: { max_new_tokens: 16, do_sample: false },
  })) {
    n++;
    // TGI events ({token}) or, for clients >= 4.13, OpenAI text_completion chunks
    text += ev.token ? ev.token.text : ev.choices[0].text;
  }
  assert.equal(n, 16);
  assert.ok(g.greedy_text.startsWith(text.trimStart()), text);
});

test("InferenceClient.chatCompletion and stream", async () => {
  const c = new InferenceClient();
  const messages = [{ role: "user", content: "Hello" }];
  const out = await c.chatCompletion({ endpointUrl: url, messages, max_tokens: 8, temperature: 0 });
  assert.equal(out.choices[0].message.role, "assistant");
  assert.equal(typeof out.choices[0].message.content, "string");
  assert.equal(out.usage.completion_tokens, 8);
  let text = "";
  for await (const ch of c.chatCompletionStream({ endpointUrl: url, messages, max_tokens: 8, temperature: 0 })) {
    text += ch.choices[0]?.delta?.content ?? "";
  }
  assert.equal(text, out.choices[0].message.content);
});

test("openai SDK chat.completions.create, stream and not", async () => {
  const client = new OpenAI({ baseURL: url + "/v1", apiKey: "unused" });
  const messages = [{ role: "system", content: "Be nice." }, { role: "user", content: "Tell a story" }];
  const r = await client.chat.completions.create({ model: "tgi", messages, max_tokens: 10, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 10);
  const s = await client.chat.completions.create({
    model: "tgi", messages, max_tokens: 10, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage;
  for await (const ch of s) {
    text += ch.choices[0]?.delta?.content ?? "";
    if (ch.usage) usage = ch.usage;
  }
  assert.equal(text, r.choices[0].message.content);
  assert.equal(usage.total_tokens, r.usage.total_tokens);
  const comp = await client.completions.create({ model: "tgi", prompt: golden[3].prompt, max_tokens: 64, temperature: 0 });
  assert.equal(comp.choices[0].text.trimStart(), golden[3].greedy_text);
});
