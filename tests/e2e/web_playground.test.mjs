// Browser test of the dashboard's playground and metrics charts against the scripted data
// plane in web_mock.mjs (known SSE tokens, vectors, labels, counters), so the expected output
// is fixed by the mock, not by the UI: streaming generate + chat, cosine similarity, labels, rates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMock } from './web_mock.mjs';
import { sleep, freePort, launchChromium, newPage, signIn, outDir } from './web_lib.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKEN = 'hf_playgroundtesttoken0123456789';
let home; let mock; let browser; let origin;
const errors = [];

before(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-webpg-'));
  browser = await launchChromium(path.join(home, 'profile'));
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  mock = await startMock({ port, token: TOKEN, webDir: path.join(REPO, 'web') });
});
after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (mock) await mock.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

test('playground streams tokens, chats, embeds, classifies; charts fill from /metrics', async () => {
  const page = await newPage(browser, 1280, 800, errors);
  await signIn(page, origin, TOKEN);
  const r = await fetch(`${origin}/v2/endpoint/admin`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'pg', type: 'protected', model: { repository: 'm', task: 'text-generation' }, compute: { scaling: { minReplica: 1, maxReplica: 1 } } }) });
  assert.equal(r.status, 200);
  await page.goto(`${origin}/#/ep/admin/pg`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#ep-state .badge')?.dataset.state === 'running');
  await page.waitForFunction(() => document.querySelector('#ep-url'));

  // Generate: tokens arrive one by one (observe intermediate texts), final text is the join.
  await page.evaluate(() => {
    window.seen = [];
    new MutationObserver(() => window.seen.push(document.querySelector('#pg-output').textContent))
      .observe(document.querySelector('#pg-output'), { childList: true, characterData: true, subtree: true });
  });
  await page.click('#pg-run');
  await page.waitForFunction(() => /chunks in/.test(document.querySelector('#pg-output').textContent));
  const out = await page.$eval('#pg-output', (e) => e.textContent);
  assert.ok(out.startsWith('Once upon a mock.'), out);
  assert.match(out, /5 chunks/);
  const seen = await page.evaluate(() => window.seen);
  assert.ok(seen.includes('Once upon'), `no intermediate token state: ${JSON.stringify(seen)}`);
  const curl = await page.$eval('#snip-curl', (e) => e.textContent);
  assert.ok(curl.includes(`${origin}/endpoints/admin/pg/generate_stream`));
  assert.ok(!curl.includes(TOKEN) && !(await page.content()).includes(TOKEN), 'token must not be rendered');

  // Chat (OpenAI SSE with [DONE]).
  await page.click('#tab-chat');
  await page.click('#pg-run');
  await page.waitForFunction(() => /chunks in/.test(document.querySelector('#pg-output').textContent));
  assert.ok((await page.$eval('#pg-output', (e) => e.textContent)).startsWith('Once upon a mock.'));
  assert.ok((await page.$eval('#snip-python', (e) => e.textContent)).includes('chat_completion'));

  // Embeddings: mock vectors [1,0],[1,1],[0,1] -> cosines to the first: 0.7071, 0.
  await page.click('#tab-embed');
  await page.click('#pg-run');
  await page.waitForFunction(() => /vectors/.test(document.querySelector('#pg-output').textContent));
  const emb = await page.$eval('#pg-output', (e) => e.textContent);
  assert.match(emb, /3 vectors × 2 dims/);
  assert.match(emb, /cos 0\.7071 {2}A kitten/);
  assert.match(emb, /cos 0\.0000 {2}Stock/);

  // Classification.
  await page.click('#tab-classify');
  await page.click('#pg-run');
  await page.waitForFunction(() => /POSITIVE/.test(document.querySelector('#pg-output').textContent));
  assert.match(await page.$eval('#pg-output', (e) => e.textContent), /POSITIVE0\.7500NEGATIVE0\.2500/);

  // Charts: the mock adds 4 requests per scrape, all in the (0.1, 0.25] s bucket, queue depth 2.
  await page.waitForFunction(() => document.querySelector('#chart-rps output')?.textContent !== '—');
  await sleep(2500);
  const rps = Number(await page.$eval('#chart-rps output', (e) => e.textContent));
  assert.ok(rps > 0.5 && rps < 8, `requests/s ${rps}`); // 4 per ~2 s poll
  const lat = await page.$eval('#chart-lat output', (e) => e.textContent);
  assert.equal(lat, '175 ms / 249 ms'); // p50 0.1+0.15*0.5, p99 0.1+0.15*0.99 (rounded)
  assert.equal(await page.$eval('#chart-queue output', (e) => e.textContent), '2.00');
  assert.equal(await page.$eval('#chart-replicas output', (e) => e.textContent), '1.00 / 1.00');
  assert.ok(await page.$eval('#chart-rps svg path', (e) => e.getAttribute('d').length > 0));
  await page.screenshot({ path: path.join(outDir(REPO), 'playground-1280x800.png'), fullPage: true });
  await page.close();
  assert.deepEqual(errors, [], `console errors:\n${errors.join('\n')}`);
});
