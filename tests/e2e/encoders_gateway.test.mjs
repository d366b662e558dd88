// @huggingface/inference against encoder endpoints behind the daemon's gateway: starts
// `endpointd serve` (ENDPOINTD_BIN), creates feature-extraction / sentence-similarity /
// text-classification endpoints on tests/data/tiny-bert, then calls featureExtraction,
// sentenceSimilarity, textClassification with endpointUrl = status.url and the admin token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceClient, featureExtraction, sentenceSimilarity, textClassification } from '@huggingface/inference';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DATA = process.env.EP_TESTDATA || path.join(HERE, '..', 'data');
const BIN = process.env.ENDPOINTD_BIN || path.join(HERE, '..', '..', 'build', 'endpointd');
const BERT = path.resolve(DATA, 'tiny-bert');
const G = JSON.parse(fs.readFileSync(path.join(BERT, 'goldens.json'), 'utf8'));
const TOKEN = 'epd_node_encoders_admin_token_0123';
const TASKS = { 'enc-fe': 'feature-extraction', 'enc-sim': 'sentence-similarity', 'enc-cls': 'text-classification' };

function close(a, b, tol = 1e-4) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol, `${i}: ${a[i]} vs ${b[i]}`);
}

let home; let daemon; let api; let log = ''; const urls = {};

async function apiCall(method, p, body) {
  const r = await fetch(api + p, {
    method, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, json: await r.json().catch(() => null) };
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `ENDPOINTD_BIN must name the built endpointd binary (got ${BIN})`);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-encgw-'));
  daemon = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', '0', '--home', home, '--log-level', 'warn'], {
    env: { ...process.env, ENDPOINTD_ADMIN_TOKEN: TOKEN, ENDPOINTD_REPLICA_START_TIMEOUT_MS: '90000',
           ENDPOINTD_STOP_GRACE_MS: '3000', HF_ENDPOINT: 'http://127.0.0.1:9' },
    stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stderr.on('data', (d) => { log += d; });
  api = await new Promise((resolve, reject) => {
    let buf = '';
    daemon.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/endpointd listening on (http:\/\/[\d.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    daemon.on('exit', (c) => reject(new Error(`endpointd exited ${c}: ${log}`)));
  });
  for (const [name, task] of Object.entries(TASKS)) {
    const r = await apiCall('POST', '/v2/endpoint/admin', {
      name, type: 'protected', accountId: null, provider: { vendor: 'local', region: 'local' },
      compute: { accelerator: 'cpu', instanceSize: 'x1', instanceType: 'cpu', scaling: { minReplica: 1, maxReplica: 1 } },
      model: { repository: BERT, task, framework: 'pytorch', image: { huggingface: {} } } });
    assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.json));
  }
  const deadline = Date.now() + 120000; // ASan build on a busy 2-core machine
  for (const name of Object.keys(TASKS)) {
    for (;;) {
      const r = await apiCall('GET', `/v2/endpoint/admin/${name}`);
      const st = r.json.status;
      assert.notEqual(st.state, 'failed', JSON.stringify(st));
      if (st.state === 'running') { urls[name] = st.url; break; }
      assert.ok(Date.now() < deadline, `${name} not running: ${JSON.stringify(st)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(urls[name], `${api}/endpoints/admin/${name}`);
  }
});

after(async () => {
  if (daemon && daemon.exitCode === null) {
    const done = new Promise((r) => daemon.once('exit', (c) => r(c)));
    daemon.kill('SIGTERM');
    const t = setTimeout(() => daemon.kill('SIGKILL'), 15000);
    const code = await done;
    clearTimeout(t);
    if (home) fs.rmSync(home, { recursive: true, force: true });
    assert.equal(code, 0, `endpointd did not exit cleanly: ${log.slice(-4000)}`);
  }
});

test('featureExtraction (InferenceClient with the admin token) at status.url', async () => {
  const hf = new InferenceClient(TOKEN);
  const c = G.cases[0];
  const out = await hf.featureExtraction({ endpointUrl: urls['enc-fe'], inputs: c.text });
  assert.equal(out.length, 1);
  close(out[0], c.st_embedding_normalized);
  const many = await featureExtraction({ accessToken: TOKEN, endpointUrl: urls['enc-fe'],
                                         inputs: [G.cases[1].text, G.cases[2].text] });
  assert.equal(many.length, 2);
  close(many[1], G.cases[2].st_embedding_normalized);
});

test('sentenceSimilarity at status.url', async () => {
  const s = G.similarity;
  const out = await sentenceSimilarity({ accessToken: TOKEN, endpointUrl: urls['enc-sim'],
                                         inputs: { source_sentence: s.source_sentence, sentences: s.sentences } });
  close(out, s.scores);
});

test('textClassification at status.url gets sorted [{label, score}]', async () => {
  for (const c of G.cases.slice(0, 4)) {
    const out = await textClassification({ accessToken: TOKEN, endpointUrl: urls['enc-cls'], inputs: c.text });
    const exp = c.softmax.map((p, i) => [G.labels[i], p]).sort((a, b) => b[1] - a[1]);
    assert.deepEqual(out.map((x) => x.label), exp.map((x) => x[0]));
    close(out.map((x) => x.score), exp.map((x) => x[1]));
  }
});

test('without the token the gateway refuses; bad inputs surface the server message', async () => {
  await assert.rejects(featureExtraction({ endpointUrl: urls['enc-fe'], inputs: 'a' }), /401|[Uu]nauthori|token/);
  await assert.rejects(textClassification({ accessToken: TOKEN, endpointUrl: urls['enc-cls'], inputs: 'word '.repeat(100) }),
                       /must have less than 65 tokens/);
  await assert.rejects(featureExtraction({ accessToken: TOKEN, endpointUrl: urls['enc-fe'],
                                           inputs: Array.from({ length: 10000 }, (_, i) => `s ${i}`) }),
                       /batch size 10000 > maximum allowed batch size 32/);
  await assert.rejects(sentenceSimilarity({ accessToken: TOKEN, endpointUrl: urls['enc-sim'],
                                            inputs: { source_sentence: 'a', sentences: [] } }),
                       /cannot be empty/);
});
