// Full dashboard flow on a real endpoint: `endpointd serve` (ENDPOINTD_BIN) runs the bundled demo
// model (models/stories260K, huggingface image -> `endpointd runtime` replica); headless Debian
// chromium signs in, creates the endpoint, waits for running, streams greedy text in the playground
// (must equal tests/data/stories260K-greedy.json), reads replica log lines, pauses, resumes and
// deletes. Every request the page makes must be a public API route. Screenshots: flow-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sleep, freePort, launchChromium, newPage, signIn, outDir } from './web_lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = process.env.ENDPOINTD_BIN;
const TESTDATA = process.env.EP_TESTDATA || path.join(REPO, 'tests', 'data');
const TOKEN = `hf_flow${crypto.randomBytes(16).toString('hex')}`;
const OUT = outDir(REPO);
const MODEL = path.join(REPO, 'models', 'stories260K');
const PROMPT = 'Once upon a time';
const GOLDEN = JSON.parse(fs.readFileSync(path.join(TESTDATA, 'stories260K-greedy.json'), 'utf8'))
  .cases.find((c) => c.prompt === PROMPT);

// Routes of the public API (docs/api.md) plus the dashboard's own files: the page may use no other.
const PUBLIC = [/^\/$/, /^\/web\/[\w.-]+$/, /^\/api\/whoami-v2$/, /^\/v2\/provider(\/[^/]+)?$/,
  /^\/v2\/endpoint\/[^/]+(\/[^/]+(\/(pause|resume|scale-to-zero|logs|metrics|events))?)?$/,
  /^\/metrics$/, /^\/endpoints\/[^/]+\/[^/]+\/(generate_stream|generate|v1\/chat\/completions|embed|predict)$/];

let home; let daemon; let browser; let origin; let daemonLog = '';
const consoleErrors = [];
const requested = []; // every URL path the page fetched

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    if (daemon.exitCode !== null) break;
    try { const r = await fetch(url); if (r.ok) return; last = `HTTP ${r.status}`; } catch (e) { last = e.message; }
    await sleep(100);
  }
  throw new Error(`daemon did not serve ${url} (${last}); exit=${daemon.exitCode}; log:\n${daemonLog.slice(-3000)}`);
}

const api = (p, init = {}) => fetch(`${origin}${p}`, { ...init, headers: { Authorization: `Bearer ${TOKEN}` } });

before(async () => {
  assert.ok(BIN && fs.existsSync(BIN), `ENDPOINTD_BIN must name the built endpointd binary (got ${BIN})`);
  assert.ok(fs.existsSync(path.join(MODEL, 'model.safetensors')), `demo model missing: ${MODEL}`);
  assert.ok(GOLDEN, `no golden case for "${PROMPT}"`);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-webflow-'));
  browser = await launchChromium(path.join(home, 'chrome-profile'));
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  daemon = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', String(port), '--home', path.join(home, 'ep')], {
    env: { ...process.env, ENDPOINTD_ADMIN_TOKEN: TOKEN, ENDPOINTD_WEB_DIR: path.join(REPO, 'web'),
      HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9', ENDPOINTD_REPLICA_START_TIMEOUT_MS: '60000',
      ENDPOINTD_STOP_GRACE_MS: '3000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemon.stdout.on('data', (d) => { daemonLog += d; });
  daemon.stderr.on('data', (d) => { daemonLog += d; });
  await waitHttp(`${origin}/`, 15000);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    const t = setTimeout(() => daemon.kill('SIGKILL'), 8000);
    await new Promise((r) => daemon.once('exit', r));
    clearTimeout(t);
  }
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

async function waitBadge(page, want, ms) {
  const end = Date.now() + ms; let s = null;
  while (Date.now() < end) {
    s = await page.$eval('#ep-state .badge', (b) => b.dataset.state).catch(() => null);
    if (s === want) return;
    if (s === 'failed') break;
    await sleep(200);
  }
  const ep = await page.$eval('#ep-error', (e) => e.textContent).catch(() => '');
  throw new Error(`state never became ${want} (last ${s}) ${ep}\n${daemonLog.slice(-2000)}`);
}

// Runs the Generate tab once; returns {text, mutations, chunks, body, contentType}.
async function generate(page) {
  await page.waitForSelector('#tab-generate[aria-selected=true]');
  const ids = await page.$$eval('#pg-panel label', (ls) => Object.fromEntries(ls.map((l) => [l.textContent, l.htmlFor])));
  await page.$eval(`#${ids.Prompt}`, (e, p) => { e.value = p; e.dispatchEvent(new Event('input')); }, PROMPT);
  await page.$eval(`#${ids['Max new tokens']}`, (e) => { e.value = '64'; e.dispatchEvent(new Event('input')); });
  await page.$eval(`#${ids['Temperature (0 = greedy)']}`, (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  // Count the output's text updates: one per token event the page handled.
  await page.evaluate(() => {
    window.__muts = 0;
    window.__obs?.disconnect();
    window.__obs = new MutationObserver((rs) => { window.__muts += rs.filter((r) => r.type === 'characterData').length; });
    window.__obs.observe(document.querySelector('#pg-output'), { characterData: true, subtree: true, childList: true });
  });
  const reqP = page.waitForRequest((r) => r.url().endsWith('/generate_stream') && r.method() === 'POST');
  const resP = page.waitForResponse((r) => r.url().endsWith('/generate_stream'));
  await page.click('#pg-run');
  const [req, res] = await Promise.all([reqP, resP]);
  await page.waitForFunction(() => /— \d+ chunks in/.test(document.querySelector('#pg-output').textContent), { timeout: 30000 });
  const perr = await page.$eval('#pg-panel ~ .alert', (e) => e.textContent).catch(() => '');
  assert.equal(perr, '', `playground error: ${perr}`);
  return page.evaluate(() => {
    const out = document.querySelector('#pg-output');
    return { text: out.firstChild.data, mutations: window.__muts,
      chunks: Number(out.textContent.match(/— (\d+) chunks/)[1]) };
  }).then((r) => ({ ...r, body: JSON.parse(req.postData()), url: req.url(), contentType: res.headers()['content-type'] }));
}

test('dashboard flow on the demo model: create, run, stream, logs, pause/resume, delete', { timeout: 240000 }, async () => {
  const page = await newPage(browser, 1280, 800, consoleErrors);
  page.on('request', (r) => { const u = new URL(r.url()); if (u.origin === origin) requested.push(`${r.method()} ${u.pathname}`); else if (!u.protocol.startsWith('data')) requested.push(`FOREIGN ${r.url()}`); });
  await page.goto(`${origin}/`, { waitUntil: 'load' });
  await page.waitForSelector('input[name=token]');
  await page.screenshot({ path: path.join(OUT, 'flow-01-signin.png') });
  await signIn(page, origin, TOKEN);
  const ns = (await (await api('/api/whoami-v2')).json()).name;
  const name = `flow-${crypto.randomBytes(3).toString('hex')}`;
  await page.screenshot({ path: path.join(OUT, 'flow-02-list-empty.png') });

  // Create from the bundled demo model (absolute path), defaults otherwise (min 1, max 1).
  await page.click('a[href="#/new"]');
  await page.waitForSelector('input[name=name]');
  await page.type('input[name=name]', name);
  await page.type('input[name=repository]', MODEL);
  await page.screenshot({ path: path.join(OUT, 'flow-03-create.png'), fullPage: true });
  await page.click('form button[type=submit]');
  await page.waitForFunction((n) => location.hash.endsWith(`/${n}`), {}, name);
  const created = await (await api(`/v2/endpoint/${ns}/${name}`)).json();
  assert.equal(created.model.repository, MODEL);
  assert.deepEqual(created.model.image, { huggingface: {} });

  // Running: the badge, the URL shown is the gateway URL of the API.
  const t0 = Date.now();
  await waitBadge(page, 'running', 90000);
  const runMs = Date.now() - t0;
  const ep = await (await api(`/v2/endpoint/${ns}/${name}`)).json();
  assert.equal(ep.status.state, 'running');
  assert.equal(ep.status.url, `${origin}/endpoints/${ns}/${name}`);
  await page.waitForFunction((u) => document.querySelector('#ep-url')?.textContent === u, {}, ep.status.url);
  await page.screenshot({ path: path.join(OUT, 'flow-04-running.png'), fullPage: true });

  // Playground: greedy streaming through the gateway gives exactly the reference text.
  const g = await generate(page);
  assert.equal(g.url, `${ep.status.url}/generate_stream`);
  assert.deepEqual(g.body, { inputs: PROMPT, parameters: { max_new_tokens: 64, do_sample: false } });
  assert.match(g.contentType, /^text\/event-stream/);
  assert.equal(g.text, GOLDEN.greedy_text, 'streamed text must equal the greedy reference');
  assert.equal(g.chunks, 64, 'one token event per generated token');
  assert.ok(g.mutations >= 2, `text must arrive in several updates, saw ${g.mutations}`);
  const pg = await page.$('#pg-output');
  await pg.evaluate((e) => e.closest('section').scrollIntoView());
  await (await pg.evaluateHandle((e) => e.closest('section'))).asElement().screenshot({ path: path.join(OUT, 'flow-05-playground.png') });

  // Logs: lines written by the replica (r1) appear in the live log view.
  await page.waitForFunction(() => /\br1 .*runtime listening/.test(document.querySelector('#ep-logs')?.textContent || ''), { timeout: 15000 });
  const logText = await page.$eval('#ep-logs', (e) => e.textContent);
  assert.match(logText, /endpoint created/);
  const logs = await page.$('#ep-logs');
  await logs.evaluate((e) => e.closest('section').scrollIntoView());
  await (await logs.evaluateHandle((e) => e.closest('section'))).asElement().screenshot({ path: path.join(OUT, 'flow-06-logs.png') });

  // Pause: no URL, playground says so; resume: running again and generating again.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.click('#act-pause');
  await waitBadge(page, 'paused', 20000);
  assert.equal((await (await api(`/v2/endpoint/${ns}/${name}`)).json()).status.url, null);
  await page.waitForFunction(() => /No URL while paused/.test(document.body.textContent));
  await page.screenshot({ path: path.join(OUT, 'flow-07-paused.png'), fullPage: true });
  await page.click('#act-resume');
  await waitBadge(page, 'running', 60000);
  const g2 = await generate(page);
  assert.equal(g2.text, GOLDEN.greedy_text, 'after resume the new replica gives the same text');
  // the log view shows the pause, the resume and the lines of the new replica (r2)
  await page.waitForFunction(() => {
    const t = document.querySelector('#ep-logs')?.textContent || '';
    return /endpoint paused/.test(t) && /endpoint resumed/.test(t) && /\br2 .*runtime listening/.test(t);
  }, { timeout: 15000 });

  // Delete with confirmation: back to the list, the row is gone, the API says 404.
  await page.click('#act-delete');
  await page.waitForSelector('#confirm-dialog[open]');
  await page.screenshot({ path: path.join(OUT, 'flow-08-delete-confirm.png') });
  await page.click('#confirm-dialog button[value=ok]');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Endpoints');
  await page.waitForFunction((k) => !document.querySelector(`tr[data-key="${k}"]`), {}, `${ns}/${name}`);
  assert.equal((await api(`/v2/endpoint/${ns}/${name}`)).status, 404);
  await page.screenshot({ path: path.join(OUT, 'flow-09-deleted.png') });
  await page.close();

  const unknown = [...new Set(requested)].filter((r) => !PUBLIC.some((re) => re.test(r.replace(/^\S+ /, ''))) || r.startsWith('FOREIGN'));
  assert.deepEqual(unknown, [], `the dashboard used non-public routes:\n${unknown.join('\n')}`);
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
  fs.writeFileSync(path.join(OUT, 'flow-summary.json'), JSON.stringify({ runMs, chunks: g.chunks,
    mutations: g.mutations, text: g.text, routes: [...new Set(requested)].sort() }, null, 1));
});

test('daemon stops cleanly after the flow (replicas gone, no sanitizer report)', async () => {
  daemon.kill('SIGTERM');
  const t = setTimeout(() => daemon.kill('SIGKILL'), 8000);
  const code = daemon.exitCode !== null ? daemon.exitCode : await new Promise((r) => daemon.once('exit', (c) => r(c)));
  clearTimeout(t);
  assert.equal(code, 0, `endpointd exit ${code}; log:\n${daemonLog.slice(-3000)}`);
  assert.ok(!/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(daemonLog), daemonLog.slice(-5000));
});
