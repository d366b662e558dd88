// Real clients against `endpointd runtime` on the tiny BERT: @huggingface/inference
// featureExtraction / sentenceSimilarity / textClassification with endpointUrl, and
// openai embeddings.create with baseURL = runtime + /v1. Values vs tools/ref_bert.py goldens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceClient } from '@huggingface/inference';
import OpenAI from 'openai';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DATA = process.env.EP_TESTDATA || path.join(HERE, '..', 'data');
const BIN = process.env.ENDPOINTD_BIN || path.join(HERE, '..', '..', 'build', 'endpointd');
const BERT = path.join(DATA, 'tiny-bert');
const G = JSON.parse(readFileSync(path.join(BERT, 'goldens.json'), 'utf8'));

function close(a, b, tol = 1e-4) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol, `${i}: ${a[i]} vs ${b[i]}`);
}

async function startRuntime(task) {
  const p = spawn(BIN, ['runtime', '--model', BERT, '--task', task, '--port', '0', '--threads', '2'],
                  { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stderr.resume();
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    p.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    p.on('exit', (c) => reject(new Error(`runtime exited ${c}`)));
  });
  for (let i = 0; i < 1800; i++) { // up to 90 s (ASan, busy machine)
    try { if ((await fetch(url + '/health')).status === 200) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { p, url };
}

function stop(r) {
  return new Promise((resolve) => { r.p.on('exit', (c) => resolve(c)); r.p.kill('SIGTERM'); });
}

let fe, cls;
before(async () => { fe = await startRuntime('feature-extraction'); cls = await startRuntime('text-classification'); });
after(async () => { assert.equal(await stop(fe), 0); assert.equal(await stop(cls), 0); });

const hf = new InferenceClient();

test('featureExtraction with endpointUrl returns the 2-D TEI embedding', async () => {
  const c = G.cases[0];
  const out = await hf.featureExtraction({ endpointUrl: fe.url, inputs: c.text });
  assert.equal(out.length, 1);
  close(out[0], c.st_embedding_normalized);
  const many = await hf.featureExtraction({ endpointUrl: fe.url, inputs: [G.cases[1].text, G.cases[2].text] });
  close(many[1], G.cases[2].st_embedding_normalized);
});

test('sentenceSimilarity with endpointUrl', async () => {
  const s = G.similarity;
  const out = await hf.sentenceSimilarity({
    endpointUrl: fe.url, inputs: { source_sentence: s.source_sentence, sentences: s.sentences } });
  close(out, s.scores);
});

test('textClassification with endpointUrl gets [{label,score}] sorted', async () => {
  const c = G.cases[3];
  const out = await hf.textClassification({ endpointUrl: cls.url, inputs: c.text });
  assert.equal(out.length, 3);
  const exp = c.softmax.map((p, i) => [G.labels[i], p]).sort((a, b) => b[1] - a[1]);
  assert.deepEqual(out.map((x) => x.label), exp.map((x) => x[0]));
  close(out.map((x) => x.score), exp.map((x) => x[1]));
});

test('textClassification error surfaces the server message', async () => {
  await assert.rejects(hf.textClassification({ endpointUrl: cls.url, inputs: 'word '.repeat(100) }),
                       /must have less than 65 tokens/);
});

test('openai embeddings.create (float and base64)', async () => {
  const client = new OpenAI({ baseURL: fe.url + '/v1', apiKey: 'unused' });
  const r = await client.embeddings.create({ model: 'tiny-bert', input: [G.cases[0].text, G.cases[4].text],
                                             encoding_format: 'float' });
  assert.equal(r.object, 'list');
  assert.equal(r.data.length, 2);
  close(r.data[1].embedding, G.cases[4].st_embedding_normalized);
  assert.equal(r.usage.prompt_tokens, G.cases[0].ids.length + G.cases[4].ids.length);
  // default: the client asks for base64 and decodes it itself
  const b = await client.embeddings.create({ model: 'tiny-bert', input: G.cases[5].text });
  close(Array.from(b.data[0].embedding), G.cases[5].st_embedding_normalized);
});
