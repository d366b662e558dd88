// Shared helpers for the dashboard browser tests: free ports, launching Debian chromium with
// puppeteer-core (failing loudly when it cannot start), console-error capture and sign-in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export async function launchChromium(profileDir) {
  assert.ok(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM}: apt-get install -y chromium (scripts/install-deps.sh)`);
  try {
    return await puppeteer.launch({
      executablePath: CHROMIUM, headless: true, userDataDir: profileDir,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    });
  } catch (e) {
    throw new Error(`chromium could not be launched (${CHROMIUM}): ${e.message}`);
  }
}

// Opens a page that records console errors and uncaught exceptions into `sink`
// (messages containing any string in allowed() are expected by the current step).
export async function newPage(browser, width, height, sink, allowed = () => []) {
  const page = await browser.newPage();
  await page.setViewport({ width, height, deviceScaleFactor: 1, isMobile: width < 500, hasTouch: width < 500 });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = `${m.text()} @ ${m.location() && m.location().url}`;
    if (!allowed().some((a) => text.includes(a))) sink.push(text);
  });
  page.on('pageerror', (e) => sink.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(15000);
  return page;
}

export async function signIn(page, origin, token) {
  await page.goto(`${origin}/`, { waitUntil: 'load' });
  await page.waitForSelector('input[name=token]');
  const label = await page.$eval('input[name=token]', (el) => document.querySelector(`label[for="${el.id}"]`)?.textContent);
  assert.equal(label, 'Access token');
  await page.type('input[name=token]', token);
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Endpoints');
  assert.ok(!page.url().includes(token), 'token must never appear in the URL');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'token must not go to localStorage');
}

export function outDir(repo) {
  const bin = process.env.ENDPOINTD_BIN;
  const d = process.env.EP_TEST_OUT ? path.join(process.env.EP_TEST_OUT, 'web')
    : path.join(bin ? path.dirname(bin) : path.join(repo, 'build'), 'test-output', 'web');
  fs.mkdirSync(d, { recursive: true });
  return d;
}
