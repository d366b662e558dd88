// Real npm clients against `endpointd runtime` (stories260K): @huggingface/inference
// InferenceClient textGeneration / textGenerationStream / chatCompletion with
// endpointUrl, and the openai SDK (baseURL = runtime + /v1), stream and not. The same
// suite runs twice: against the runtime directly, and through the daemon's gateway
// (`endpointd serve`, a protected endpoint on the same model, the admin token).
import { test, before, after, describe } from "node:test";
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

let proc, daemon, dir, model;
const TOKEN = "epd_node_runtime_gateway_token_0123";
const direct = { url: null, token: undefined };
const gateway = { url: null, token: TOKEN };

async function waitLine(child, re) {
  const rl = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    rl.on("line", (l) => { const m = l.match(re); if (m) resolve(m[1]); });
    child.once("exit", (c) => reject(new Error("exited " + c)));
  });
}

before(async () => {
  assert.ok(existsSync(BIN), `endpointd binary not found: ${BIN}`);
  dir = mkdtempSync(path.join(tmpdir(), "ep-rt-js-"));
  model = path.join(dir, "stories-chat");
  cpSync(path.join(SRC, "models", "stories260K"), model, { recursive: true });
  const cfgPath = path.join(model, "tokenizer_config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  cfg.chat_template = CHATML;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  proc = spawn(BIN, ["runtime", "--model", model, "--port", "0", "--threads", "1",
                     "--parent-pid", String(process.pid)], { stdio: ["ignore", "pipe", "ignore"] });
  direct.url = await waitLine(proc, /listening on (\S+)/);
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(direct.url + "/health")).status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  // the same model behind the daemon's gateway
  daemon = spawn(BIN, ["serve", "--host", "127.0.0.1", "--port", "0", "--home", path.join(dir, "home"),
                       "--log-level", "warn"],
                 { env: { ...process.env, ENDPOINTD_ADMIN_TOKEN: TOKEN, HF_ENDPOINT: "http://127.0.0.1:9" },
                   stdio: ["ignore", "pipe", "ignore"] });
  const api = await waitLine(daemon, /endpointd listening on (http:\/\/[\d.]+:\d+)/);
  const hdr = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" };
  const r = await fetch(api + "/v2/endpoint/admin", { method: "POST", headers: hdr, body: JSON.stringify({
    name: "story", type: "protected", accountId: null, provider: { vendor: "aws", region: "us-east-1" },
    compute: { accelerator: "cpu", instanceSize: "x1", instanceType: "intel-icl",
               scaling: { minReplica: 1, maxReplica: 1 } },
    model: { repository: model, framework: "pytorch", task: "text-generation", image: { huggingface: {} } } }) });
  assert.ok(r.status === 200 || r.status === 201, await r.text());
  for (let i = 0; i < 1200; i++) {
    const st = (await (await fetch(api + "/v2/endpoint/admin/story", { headers: hdr })).json()).status;
    assert.notEqual(st.state, "failed", JSON.stringify(st));
    if (st.state === "running") { gateway.url = st.url; return; }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("endpoint not running");
});

after(async () => {
  proc?.kill("SIGTERM");
  if (daemon && daemon.exitCode === null) {
    const done = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGTERM");
    await done;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the gateway refuses the protected endpoint without a token", async () => {
  const r = await fetch(gateway.url + "/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                                     body: JSON.stringify({ inputs: "Once" }) });
  assert.equal(r.status, 401);
});

function suite(name, target) {
describe(name, () => {
test("InferenceClient.textGeneration with endpointUrl (greedy golden)", async () => {
  const c = new InferenceClient(target.token);
  const g = golden[1];
  const out = await c.textGeneration({
    endpointUrl: target.url,
    inputs: g.prompt,
    parameters: { max_new_tokens: 64, do_sample: false, return_full_text: false },
  });
  assert.equal(out.generated_text.trimStart(), g.greedy_text);
});

test("InferenceClient.textGenerationStream", async () => {
  const c = new InferenceClient(target.token);
  const g = golden[2];
  let text = "";
  let n = 0;
  for await (const ev of c.textGenerationStream({
    endpointUrl: target.url,
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
  const c = new InferenceClient(target.token);
  const messages = [{ role: "user", content: "Hello" }];
  const out = await c.chatCompletion({ endpointUrl: target.url, messages, max_tokens: 8, temperature: 0 });
  assert.equal(out.choices[0].message.role, "assistant");
  assert.equal(typeof out.choices[0].message.content, "string");
  assert.equal(out.usage.completion_tokens, 8);
  let text = "";
  for await (const ch of c.chatCompletionStream({ endpointUrl: target.url, messages, max_tokens: 8, temperature: 0 })) {
    text += ch.choices[0]?.delta?.content ?? "";
  }
  assert.equal(text, out.choices[0].message.content);
});

test("openai SDK chat.completions.create, stream and not", async () => {
  const client = new OpenAI({ baseURL: target.url + "/v1", apiKey: target.token ?? "unused" });
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
});
}

suite("runtime directly", direct);
suite("through the gateway", gateway);
