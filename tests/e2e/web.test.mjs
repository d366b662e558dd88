// End-to-end test of the web dashboard: starts `endpointd serve` (ENDPOINTD_BIN) and drives
// headless Debian chromium with puppeteer-core through sign-in, create (with an invalid name
// first), list badge, pause/resume, duplicate-name server error, delete; both viewports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sleep, freePort, launchChromium, newPage as openPage, signIn as signInAs, outDir } from './web_lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const WEB = path.join(REPO, 'web');
const BIN = process.env.ENDPOINTD_BIN;
const MOCK = process.env.ENDPOINTD_WEB_MOCK === '1';
const TOKEN = `hf_web${crypto.randomBytes(16).toString('hex')}`;
const OUT = outDir(REPO);
const MODEL = path.join(REPO, 'models', 'stories260K');

let home; let daemon; let mock; let browser; let origin; let daemonLog = '';
const consoleErrors = [];
let allowed = []; // console error substrings a step expects (e.g. the 409 of a duplicate create)

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    if (daemon && daemon.exitCode !== null) break;
    try { const r = await fetch(url); if (r.ok) return; last = `HTTP ${r.status}`; } catch (e) { last = e.message; }
    await sleep(100);
  }
  throw new Error(`daemon did not serve ${url} (${last}); exit=${daemon && daemon.exitCode}; log:\n${daemonLog.slice(-3000)}`);
}

async function apiGet(p) {
  return fetch(`${origin}${p}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
}

before(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-web-'));
  browser = await launchChromium(path.join(home, 'chrome-profile'));
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  if (MOCK) {
    const { startMock } = await import('./web_mock.mjs');
    mock = await startMock({ port, token: TOKEN, webDir: WEB });
  } else {
    assert.ok(BIN && fs.existsSync(BIN), `ENDPOINTD_BIN must name the built endpointd binary (got ${BIN})`);
    daemon = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', String(port), '--home', path.join(home, 'ep')], {
      env: { ...process.env, ENDPOINTD_ADMIN_TOKEN: TOKEN, ENDPOINTD_WEB_DIR: WEB, HF_HUB_OFFLINE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout.on('data', (d) => { daemonLog += d; });
    daemon.stderr.on('data', (d) => { daemonLog += d; });
  }
  await waitHttp(`${origin}/`, 15000);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (mock) await mock.stop();
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    const t = setTimeout(() => daemon.kill('SIGKILL'), 5000);
    await new Promise((r) => daemon.once('exit', r));
    clearTimeout(t);
  }
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

const newPage = (w, hgt) => openPage(browser, w, hgt, consoleErrors, () => allowed);
const signIn = (page) => signInAs(page, origin, TOKEN);

const badgeIn = (sel) => `${sel} .badge`;
async function stateOf(page, sel) {
  return page.$eval(badgeIn(sel), (b) => b.dataset.state).catch(() => null);
}
async function waitState(page, sel, pred, what) {
  const end = Date.now() + 20000; let s = null;
  while (Date.now() < end) {
    s = await stateOf(page, sel);
    if (s && pred(s)) return s;
    await sleep(200);
  }
  throw new Error(`badge ${sel} never became ${what}; last ${s}`);
}

test('dashboard: sign in, create, list, pause, resume, delete at 1280x800', async () => {
  const page = await newPage(1280, 800);
  await signIn(page);
  const ns = await page.evaluate(async () => (await (await fetch('/api/whoami-v2', {
    headers: { Authorization: `Bearer ${sessionStorage.getItem('endpointd.token')}` } })).json()).name);
  const name = `web-e2e-${crypto.randomBytes(3).toString('hex')}`;

  await page.click('a[href="#/new"]');
  await page.waitForSelector('input[name=name]');
  // Invalid name: inline error as you type, aria-invalid, and submit sends nothing.
  await page.type('input[name=name]', 'Bad_Name');
  const nameErr = await page.$eval('#name-error', (e) => e.textContent);
  assert.match(nameErr, /letter or digit|not allowed/);
  assert.equal(await page.$eval('input[name=name]', (e) => e.getAttribute('aria-invalid')), 'true');
  await page.type('input[name=repository]', MODEL);
  await page.click('form button[type=submit]');
  await sleep(300);
  assert.ok(page.url().endsWith('#/new'), 'invalid name must not navigate away');
  const list0 = await (await apiGet(`/v2/endpoint/${ns}`)).json();
  assert.equal(list0.items.length, 0, 'no endpoint may be created with an invalid name');
  await page.$eval('input[name=name]', (e) => { e.value = ''; });
  await page.type('input[name=name]', 'x'.repeat(33));
  assert.match(await page.$eval('#name-error', (e) => e.textContent), /at most 32/);
  await page.$eval('input[name=name]', (e) => { e.value = ''; });
  await page.type('input[name=name]', name);
  assert.equal(await page.$eval('#name-error', (e) => e.textContent), '');
  // Hardware select was filled from /v2/provider.
  assert.ok(await page.$eval('select', () => document.querySelectorAll('option').length > 3));
  await page.screenshot({ path: path.join(OUT, 'create-1280x800.png'), fullPage: true });
  await page.click('form button[type=submit]');
  await page.waitForFunction((n) => location.hash.endsWith(`/${n}`), {}, name);
  await page.waitForFunction((n) => document.querySelector('h1')?.textContent.startsWith(n), {}, name);
  const created = await (await apiGet(`/v2/endpoint/${ns}/${name}`)).json();
  assert.equal(created.model.repository, MODEL);
  assert.equal(created.compute.scaling.maxReplica, 1);

  // List shows the endpoint with a state badge.
  await page.goto(`${origin}/#/`, { waitUntil: 'load' });
  const rowSel = `tr[data-key="${ns}/${name}"]`;
  await page.waitForSelector(rowSel);
  const s0 = await waitState(page, rowSel, (s) => s !== 'unknown', 'a known state');
  assert.ok(['pending', 'initializing', 'running', 'failed', 'updating'].includes(s0), `unexpected state ${s0}`);
  assert.equal(await page.$eval(`${rowSel} td[data-label=Model]`, (e) => e.textContent), MODEL);
  await page.screenshot({ path: path.join(OUT, 'list-1280x800.png') });

  // Open it, pause (badge changes), resume.
  await page.click(`${rowSel} a.ep-link`);
  await page.waitForSelector('#ep-state .badge');
  await page.click('#act-pause');
  await waitState(page, '#ep-state', (s) => s === 'paused', 'paused');
  const paused = await (await apiGet(`/v2/endpoint/${ns}/${name}`)).json();
  assert.equal(paused.status.state, 'paused');
  await page.goto(`${origin}/#/`, { waitUntil: 'load' });
  await waitState(page, rowSel, (s) => s === 'paused', 'paused in the list');
  await page.click(`${rowSel} a.ep-link`);
  await page.waitForSelector('#ep-state .badge');
  await page.click('#act-resume');
  await waitState(page, '#ep-state', (s) => s !== 'paused', 'not paused');
  await page.screenshot({ path: path.join(OUT, 'endpoint-1280x800.png'), fullPage: true });

  // Update replicas through the form (sparse PUT); the server keeps the new maximum.
  const maxId = await page.$$eval('form[aria-label="Update endpoint"] label', (ls) => ls.find((l) => l.textContent === 'Max replicas').htmlFor);
  assert.ok(maxId);
  await page.$eval(`#${maxId}`, (e) => { e.value = ''; });
  await page.type(`#${maxId}`, '2');
  await page.click('form[aria-label="Update endpoint"] button[type=submit]');
  const endU = Date.now() + 10000; let upd;
  do { upd = await (await apiGet(`/v2/endpoint/${ns}/${name}`)).json(); if (upd.compute.scaling.maxReplica === 2) break; await sleep(200); } while (Date.now() < endU);
  assert.equal(upd.compute.scaling.maxReplica, 2);
  assert.equal(upd.model.repository, MODEL);

  // A duplicate name comes back from the server and is shown inline.
  await page.goto(`${origin}/#/new`, { waitUntil: 'load' });
  await page.waitForSelector('input[name=name]');
  await page.type('input[name=name]', name);
  await page.type('input[name=repository]', MODEL);
  allowed = ['status of 409', 'status of 400'];
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#create-error')?.textContent.length > 0);
  const dupErr = await page.$eval('#create-error', (e) => e.textContent);
  assert.match(dupErr, /exist|taken|conflict|already/i);
  await sleep(200);
  allowed = [];

  // Delete with confirmation: cancel keeps it, confirm removes it.
  await page.goto(`${origin}/#/ep/${ns}/${name}`, { waitUntil: 'load' });
  await page.waitForSelector('#act-delete');
  await page.click('#act-delete');
  await page.waitForSelector('#confirm-dialog[open]');
  await page.click('#confirm-dialog button[value=cancel]');
  assert.equal((await apiGet(`/v2/endpoint/${ns}/${name}`)).status, 200);
  await page.click('#act-delete');
  await page.waitForSelector('#confirm-dialog[open]');
  await page.click('#confirm-dialog button[value=ok]');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Endpoints');
  await page.waitForFunction((sel) => !document.querySelector(sel), {}, rowSel);
  const gone = await apiGet(`/v2/endpoint/${ns}/${name}`);
  assert.equal(gone.status, 404);
  await page.close();
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
});

test('dashboard fits a 390x844 phone viewport', async () => {
  const page = await newPage(390, 844);
  await signIn(page);
  const ns = await page.evaluate(async () => (await (await fetch('/api/whoami-v2', {
    headers: { Authorization: `Bearer ${sessionStorage.getItem('endpointd.token')}` } })).json()).name);
  const name = `web-phone-${crypto.randomBytes(3).toString('hex')}`;
  await page.click('a[href="#/new"]');
  await page.waitForSelector('input[name=name]');
  await page.type('input[name=name]', name);
  await page.type('input[name=repository]', MODEL);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(await overflow() <= 390, `create form overflows: ${await overflow()}px`);
  await page.screenshot({ path: path.join(OUT, 'create-390x844.png'), fullPage: true });
  await page.click('form button[type=submit]');
  await page.waitForSelector('#ep-state .badge');
  assert.ok(await overflow() <= 390, `endpoint page overflows: ${await overflow()}px`);
  await page.screenshot({ path: path.join(OUT, 'endpoint-390x844.png'), fullPage: true });
  await page.goto(`${origin}/#/`, { waitUntil: 'load' });
  await page.waitForSelector(`tr[data-key="${ns}/${name}"] .badge`);
  assert.ok(await overflow() <= 390, `list overflows: ${await overflow()}px`);
  await page.screenshot({ path: path.join(OUT, 'list-390x844.png'), fullPage: true });
  // Every visible form control has an accessible name.
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input,select,textarea')]
    .filter((e) => !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML));
  assert.deepEqual(unlabeled, []);
  const del = await fetch(`${origin}/v2/endpoint/${ns}/${name}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.ok(del.ok);
  await page.close();
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
});

// Charts and timeline on the real daemon: a "cmd:" endpoint running the stand-in replica
// (fixtures/replica.py) gets traffic while its page is open; the charts must show numbers
// parsed from the daemon's /metrics and the timeline the endpoint's stored events.
test('dashboard: charts show numbers and the timeline shows events for a running endpoint', async (t) => {
  if (MOCK) { t.skip('needs the real daemon and a running replica'); return; }
  const auth = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
  const me = await (await apiGet('/api/whoami-v2')).json();
  const ns = me.name;
  const name = `web-chart-${crypto.randomBytes(3).toString('hex')}`;
  const replica = path.join(HERE, 'fixtures', 'replica.py');
  const body = {
    name, type: 'public', accountId: null, provider: { vendor: 'local', region: 'local' },
    compute: { accelerator: 'cpu', instanceSize: 'x1', instanceType: 'cpu', scaling: { minReplica: 1, maxReplica: 1 } },
    model: { repository: HERE, task: 'custom', framework: 'custom',
      image: { custom: { url: `cmd:/usr/bin/python3 ${replica} --port {port}`, healthRoute: '/health' } } },
  };
  const cr = await fetch(`${origin}/v2/endpoint/${ns}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
  assert.equal(cr.status, 201, await cr.text());
  const endR = Date.now() + 20000; let ep;
  do { ep = await (await apiGet(`/v2/endpoint/${ns}/${name}`)).json(); if (ep.status.state === 'running') break; await sleep(200); } while (Date.now() < endR);
  assert.equal(ep.status.state, 'running', JSON.stringify(ep.status));

  const page = await newPage(1280, 800);
  await signIn(page);
  await page.goto(`${origin}/#/ep/${ns}/${name}`, { waitUntil: 'load' });
  await page.waitForSelector('#chart-rps output');
  let stop = false; let sent = 0;
  const traffic = (async () => {
    while (!stop) {
      const r = await fetch(`${origin}/endpoints/${ns}/${name}/generate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"inputs":"x"}' });
      assert.equal(r.status, 200);
      await r.text(); sent += 1;
      await sleep(40);
    }
  })();
  const out = (id) => page.$eval(`#chart-${id} output`, (e) => e.textContent);
  const num = /^\d+(\.\d+)?/;
  const ONE_ONE = /^1(\.0+)? \/ 1(\.0+)?$/;
  const endC = Date.now() + 20000; let rps = '—'; let lat = '—'; let reps = '—';
  while (Date.now() < endC) {
    [rps, lat, reps] = [await out('rps'), await out('lat'), await out('replicas')];
    if (num.test(rps) && Number.parseFloat(rps) > 0 && num.test(lat) && ONE_ONE.test(reps)) break;
    await sleep(250);
  }
  stop = true; await traffic;
  assert.ok(sent > 10, `sent ${sent} requests`);
  assert.ok(num.test(rps) && Number.parseFloat(rps) > 0, `Requests/s chart shows ${rps}`);
  assert.match(lat, /^\d+(\.\d+)? ms \/ \d+(\.\d+)? ms$/, `latency chart shows ${lat}`);
  assert.match(reps, ONE_ONE, `replicas chart shows ${reps}`);
  assert.match(await out('queue'), /^\d/);
  // The timeline lists the stored events, oldest "created" included.
  const items = await page.$$eval('ol.timeline li', (ls) => ls.map((l) => l.textContent));
  assert.ok(items.some((x) => /created: endpoint created/.test(x)), items.join('\n'));
  assert.ok(items.some((x) => /state: .*running/.test(x)), items.join('\n'));
  await page.screenshot({ path: path.join(OUT, 'charts-1280x800.png'), fullPage: true });
  await page.close();
  const del = await fetch(`${origin}/v2/endpoint/${ns}/${name}`, { method: 'DELETE', headers: auth });
  assert.ok(del.ok);
  assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
});
