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
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Server, WAIT_MS, befriend, contactSheet, friendItem, launchProfile, openPage, register, sendText, ticks,
  shutDown, waitConnected, waitTicks,
} from './helpers.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, 'screenshots');

let server = null;
let baseUrl = '';
let context = null;

before(async () => {
  server = new Server();
  await server.start();
  baseUrl = server.url;
  context = await launchProfile(path.join(server.tmp, 'profile'));
});

after(async () => {
  const code = await shutDown([context], server);
  if (code !== null) assert.equal(code, 0, 'courier-server stops cleanly on SIGTERM');
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
  const alice = await openPage(context, baseUrl);
  await register(alice, 'alice');
  let bob = await openPage(context, baseUrl);
  await register(bob, 'bob');

  // alice asks; bob sees her request and accepts it: friends.
  await befriend(alice, 'alice', bob, 'bob');
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
  for (const t of texts) await sendText(alice, t);
  await waitTicks(alice, 'sent', texts.length);
  for (const [status, text] of await ticks(alice)) {
    assert.equal(status, 'sent');
    assert.equal(text, '✓');
  }
  assert.match(await alice.textContent('#chat-presence'), /^last seen/);
  const shotSent = await alice.screenshot();

  // Bob's page comes back (a new tab; bob was the profile's last user): his session
  // resumes, the offline messages arrive, alice's ticks turn ✓✓ (delivered).
  bob = await openPage(context, baseUrl);
  await bob.waitForSelector('#app-screen', { state: 'visible', timeout: WAIT_MS });
  assert.equal(await bob.textContent('#me'), 'bob');
  await waitConnected(bob);
  await bob.waitForSelector(`${friendItem('alice')} [data-testid="unread"]`, { timeout: WAIT_MS });
  assert.equal(await bob.textContent(`${friendItem('alice')} [data-testid="unread"]`), String(texts.length));
  await waitTicks(alice, 'delivered', texts.length);
  const grey = await ticks(alice);
  for (const [status, text] of grey) {
    assert.equal(status, 'delivered');
    assert.equal(text, '✓✓');
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
  const blue = await ticks(alice);
  for (const [status, text, color] of blue) {
    assert.equal(status, 'read');
    assert.equal(text, '✓✓');
    assert.notEqual(color, grey[0][2], 'read ticks have their own (blue) colour');
  }

  // Bob answers; alice gets it live.
  await sendText(bob, 'Here now. Got all three!');
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages li[data-dir="in"]')]
    .some((li) => li.textContent.includes('Got all three')), null, { timeout: WAIT_MS });

  // Screenshot: the story in four panes.
  mkdirSync(SHOTS, { recursive: true });
  const panes = [
    ['1. alice writes to offline bob: one ✓, bob "last seen"', shotSent],
    ['2. bob\'s tab comes back: the messages arrive, alice sees ✓✓ and bob online', shotDelivered],
    ['3. bob\'s reopened tab, before he opens the chat (3 unread)', shotBob],
    ['4. bob opened the chat: alice\'s ✓✓ turn blue; his answer arrives', await alice.screenshot()],
  ];
  await contactSheet(context, panes, path.join(SHOTS, 'two-tab-demo.png'));

  // Messages are kept across reloads: alice's ticks stay blue, bob's answer stays.
  await alice.reload();
  await alice.waitForSelector('#chat[data-peer="bob"]', { timeout: WAIT_MS });
  await waitTicks(alice, 'read', texts.length);
  assert.equal(await alice.$$eval('#messages li[data-dir="in"]', (l) => l.length), 1);
  await waitConnected(alice);
  // No duplicate after the resume.
  assert.equal(await alice.$$eval('#messages li', (l) => l.length), texts.length + 1);
});
