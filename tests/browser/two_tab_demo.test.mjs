// Browser test: headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core, no browser download) runs the web page's two-tab demo against
// a real courier-server that this test starts on a free port in a temp dir.
//
//   COURIER_SERVER=/path/to/courier-server node --test two_tab_demo.test.mjs
//
// The story: alice and bob register in two tabs of one browser profile and become
// friends; bob's tab is closed; alice sends to offline bob and sees one ✓; bob's
// page comes back and shows the messages; alice's ticks turn ✓✓ (delivered), then
// blue ✓✓ (read) once bob opens the chat; alice sees bob online / last seen.
// Screenshot: tests/browser/screenshots/two-tab-demo.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = process.env.COURIER_SERVER;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(HERE, 'screenshots');
const WAIT_MS = 60000;  // generous: a slow shared machine, never a tight timeout
const PASSWORD = 'correct horse battery';

let server = null;
let serverLog = '';
let baseUrl = '';
let tmp = '';
let context = null;

function startServer(binary, dataDir) {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, ['--listen', '127.0.0.1:0', '--data-dir', dataDir],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      reject(new Error(`courier-server printed no "listening on" line in ${WAIT_MS} ms:\n${serverLog}`));
    }, WAIT_MS);
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      serverLog += chunk;
      const m = /listening on (\S+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, host: m[1], port: Number(m[2]) });
      }
    });
    proc.stderr.on('data', (chunk) => { serverLog += chunk; });
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`courier-server exited (${code ?? signal}) before listening:\n${serverLog}`));
    });
  });
}

function stopServer(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve(proc.exitCode);
      return;
    }
    const kill = setTimeout(() => proc.kill('SIGKILL'), 30000);
    proc.once('exit', (code) => { clearTimeout(kill); resolve(code); });
    proc.kill('SIGTERM');
  });
}

async function openPage() {
  const page = await context.newPage();
  await page.setViewportSize({ width: 860, height: 560 });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.error('console:', m.text()); });
  await page.goto(baseUrl);
  return page;
}

async function register(page, user) {
  await page.waitForSelector('#login-screen', { state: 'visible', timeout: WAIT_MS });
  await page.fill('#auth-user', user);
  await page.fill('#auth-pass', PASSWORD);
  await page.click('#register-btn');
  await page.waitForSelector('#app-screen', { state: 'visible', timeout: WAIT_MS });
  assert.equal(await page.textContent('#me'), user);
  await waitConnected(page);
}

async function waitConnected(page) {
  await page.waitForSelector('#conn-status[data-state="online"]', { timeout: WAIT_MS });
}

async function addFriend(page, user) {
  await page.fill('#friend-input', user);
  await page.click('#friend-add-btn');
}

function friendItem(user) {
  return `#friends li[data-testid="friend"][data-user="${user}"]`;
}

// Waits until every outgoing message of the open chat has `status`.
async function waitTicks(page, status, count) {
  await page.waitForFunction(([want, n]) => {
    const out = [...document.querySelectorAll('#messages li[data-dir="out"]')];
    return out.length === n && out.every((li) => li.dataset.status === want);
  }, [status, count], { timeout: WAIT_MS });
}

async function statuses(page) {
  return page.$$eval('#messages li[data-dir="out"] .ticks',
    (ts) => ts.map((t) => [t.dataset.status, t.textContent, getComputedStyle(t).color]));
}

before(async () => {
  assert.ok(SERVER, 'set COURIER_SERVER to the courier-server binary');
  assert.ok(existsSync(SERVER), `no courier-server at ${SERVER}`);
  tmp = mkdtempSync(path.join(tmpdir(), 'courier-browser-'));
  mkdirSync(path.join(tmp, 'data'));
  const s = await startServer(SERVER, path.join(tmp, 'data'));
  server = s.proc;
  baseUrl = `http://${s.host}:${s.port}/`;
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: WAIT_MS,
  });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (server) {
    const code = await stopServer(server);
    if (code !== 0) console.error(`courier-server exit code ${code}; its log:\n${serverLog}`);
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the server serves the page and its files', async () => {
  for (const file of ['', 'index.html', 'app.js', 'style.css']) {
    const res = await fetch(baseUrl + file);
    assert.equal(res.status, 200, `GET /${file}`);
    assert.ok((await res.text()).length > 100, `GET /${file} has a body`);
  }
});

test('two-tab demo: offline messages, ticks, presence, persistence', async () => {
  // Tab 1: alice registers. Tab 2 (same profile): bob registers.
  const alice = await openPage();
  await register(alice, 'alice');
  let bob = await openPage();
  await register(bob, 'bob');

  // alice asks; bob sees her request and accepts it: friends.
  await addFriend(alice, 'bob');
  await alice.waitForSelector('#requests li[data-testid="outgoing"][data-user="bob"]', { timeout: WAIT_MS });
  await bob.click('#requests li[data-testid="request"][data-user="alice"] [data-testid="accept-btn"]',
    { timeout: WAIT_MS });
  await bob.waitForSelector(friendItem('alice'), { timeout: WAIT_MS });
  await alice.waitForSelector(friendItem('bob'), { timeout: WAIT_MS });
  await alice.waitForSelector('#requests-section', { state: 'hidden', timeout: WAIT_MS });

  // Presence: alice sees bob online.
  await alice.waitForSelector(`${friendItem('bob')} [data-testid="presence"][data-online="true"]`,
    { timeout: WAIT_MS });

  // Bob's tab closes: alice sees "last seen".
  await bob.close();
  await alice.waitForFunction((sel) => {
    const p = document.querySelector(sel);
    return p && p.dataset.online === 'false' && p.textContent.startsWith('last seen');
  }, `${friendItem('bob')} [data-testid="presence"]`, { timeout: WAIT_MS });

  // alice writes to offline bob: one ✓ each.
  await alice.click(friendItem('bob'));
  await alice.waitForSelector('#chat[data-peer="bob"]', { timeout: WAIT_MS });
  const texts = ['Hi Bob, are you there?', 'I will wait for you.', 'Unicode too: héllo ✓ 😀'];
  for (const t of texts) {
    await alice.fill('#composer-input', t);
    await alice.click('#send-btn');
  }
  await waitTicks(alice, 'sent', texts.length);
  for (const [status, ticks] of await statuses(alice)) {
    assert.equal(status, 'sent');
    assert.equal(ticks, '✓');
  }
  assert.match(await alice.textContent('#chat-presence'), /^last seen/);
  const shotSent = await alice.screenshot();

  // Bob's page comes back (a new tab; bob was the profile's last user): his session
  // resumes, the offline messages arrive, alice's ticks turn ✓✓ (delivered).
  bob = await openPage();
  await bob.waitForSelector('#app-screen', { state: 'visible', timeout: WAIT_MS });
  assert.equal(await bob.textContent('#me'), 'bob');
  await waitConnected(bob);
  await bob.waitForSelector(`${friendItem('alice')} [data-testid="unread"]`, { timeout: WAIT_MS });
  assert.equal(await bob.textContent(`${friendItem('alice')} [data-testid="unread"]`), String(texts.length));
  await waitTicks(alice, 'delivered', texts.length);
  const grey = await statuses(alice);
  for (const [status, ticks] of grey) {
    assert.equal(status, 'delivered');
    assert.equal(ticks, '✓✓');
  }
  // Presence again: bob is online for alice.
  await alice.waitForSelector('#chat-presence[data-online="true"]', { timeout: WAIT_MS });
  assert.equal(await alice.textContent('#chat-presence'), 'online');
  const shotDelivered = await alice.screenshot();
  const shotBob = await bob.screenshot();

  // Bob opens the chat: he sees the messages in order; alice's ticks turn blue.
  await bob.click(friendItem('alice'));
  await bob.waitForFunction((n) => document.querySelectorAll('#messages li[data-dir="in"]').length === n,
    texts.length, { timeout: WAIT_MS });
  assert.deepEqual(await bob.$$eval('#messages li[data-dir="in"] [data-testid="message-body"]',
    (bs) => bs.map((b) => b.textContent)), texts);
  await waitTicks(alice, 'read', texts.length);
  const blue = await statuses(alice);
  for (const [status, ticks, color] of blue) {
    assert.equal(status, 'read');
    assert.equal(ticks, '✓✓');
    assert.notEqual(color, grey[0][2], 'read ticks have their own (blue) colour');
  }

  // Bob answers; alice gets it live.
  await bob.fill('#composer-input', 'Here now. Got all three!');
  await bob.click('#send-btn');
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages li[data-dir="in"]')]
    .some((li) => li.textContent.includes('Got all three')), null, { timeout: WAIT_MS });

  // Screenshot: the story in four panes.
  mkdirSync(SHOTS, { recursive: true });
  const png = (b) => `data:image/png;base64,${b.toString('base64')}`;
  const panes = [
    ['1. alice writes to offline bob: one ✓, bob "last seen"', shotSent],
    ['2. bob\'s tab comes back: the messages arrive, alice sees ✓✓ and bob online', shotDelivered],
    ['3. bob\'s reopened tab, before he opens the chat (3 unread)', shotBob],
    ['4. bob opened the chat: alice\'s ✓✓ turn blue; his answer arrives', await alice.screenshot()],
  ];
  const sheet = await context.newPage();
  await sheet.setViewportSize({ width: 1760, height: 1210 });
  await sheet.setContent(`<!doctype html><body style="margin:0;background:#cfd6dc;font:15px sans-serif">
    <div style="display:grid;grid-template-columns:860px 860px;gap:14px 20px;padding:10px">
    ${panes.map(([caption, shot]) => `<figure style="margin:0">
      <figcaption style="margin:0 0 4px">${caption}</figcaption>
      <img src="${png(shot)}" width="860" height="560" style="display:block"></figure>`).join('')}
    </div></body>`);
  await sheet.screenshot({ path: path.join(SHOTS, 'two-tab-demo.png') });
  await sheet.close();

  // Messages are kept across reloads: alice's ticks stay blue, bob's answer stays.
  await alice.reload();
  await alice.waitForSelector('#chat[data-peer="bob"]', { timeout: WAIT_MS });
  await waitTicks(alice, 'read', texts.length);
  assert.equal(await alice.$$eval('#messages li[data-dir="in"]', (l) => l.length), 1);
  await waitConnected(alice);
  // No duplicate after the resume.
  assert.equal(await alice.$$eval('#messages li', (l) => l.length), texts.length + 1);
});
