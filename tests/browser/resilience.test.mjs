// Browser test: the web page's recovery paths, against a real courier-server.
//
//   COURIER_SERVER=/path/to/courier-server node --test resilience.test.mjs
//
// 1. The server restarts (same port, same data dir): the page shows "offline",
//    keeps what alice types as pending (◷), reconnects with backoff by itself and
//    sends it; bob's tab gets it and alice's tick turns ✓✓.
// 2. alice logs in again in another tab of the same profile (same device): the
//    first tab is closed with 4409 and says "opened elsewhere"; "Use here" takes
//    the session back.
// 3. A refused token (4401 / HTTP 401) sends the tab back to the login screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  Server, WAIT_MS, befriend, friendItem, launchProfile, login, openPage, register, sendText,
  shutDown, waitConnected,
} from './helpers.mjs';

let server = null;
let context = null;
let alice = null;
let bob = null;

before(async () => {
  server = new Server();
  await server.start();
  context = await launchProfile(path.join(server.tmp, 'profile'));
  alice = await openPage(context, server.url);
  await register(alice, 'alice');
  bob = await openPage(context, server.url);
  await register(bob, 'bob');
  await befriend(alice, 'alice', bob, 'bob');
  await alice.click(friendItem('bob'));
  await alice.waitForSelector('#chat[data-peer="bob"]', { timeout: WAIT_MS });
});

after(() => shutDown([context], server));

function lastOutgoingStatus(page) {
  return page.$eval('#messages li[data-dir="out"]:last-child', (li) => li.dataset.status);
}

test('server restart: pending while offline, reconnect with backoff, then delivered', async () => {
  const port = server.port;
  assert.equal(await server.stop(), 0, 'courier-server stops cleanly on SIGTERM');
  await alice.waitForFunction(() => {
    const s = document.getElementById('conn-status');
    return s.dataset.state === 'offline' && /^offline · retry in \d+ s$/.test(s.textContent);
  }, null, { timeout: WAIT_MS });

  await sendText(alice, 'typed while the server was down');
  await alice.waitForSelector('#messages li[data-dir="out"][data-status="pending"]', { timeout: WAIT_MS });
  assert.equal(await alice.textContent('#messages li[data-dir="out"]:last-child .ticks'), '◷');

  await server.start(`127.0.0.1:${port}`);
  await waitConnected(alice);
  await waitConnected(bob);
  await alice.waitForFunction(() => {
    const li = document.querySelector('#messages li[data-dir="out"]:last-child');
    return li && li.dataset.status === 'delivered';
  }, null, { timeout: WAIT_MS });
  assert.equal(await lastOutgoingStatus(alice), 'delivered');
  await bob.waitForSelector(`${friendItem('alice')} [data-testid="unread"]`, { timeout: WAIT_MS });
  assert.match(await bob.textContent(`${friendItem('alice')} .preview`), /typed while the server was down/);
});

test('same user in a second tab: "opened elsewhere", then "Use here"', async () => {
  // A new tab of this profile: alice and bob are open elsewhere, so it asks who you are.
  const again = await openPage(context, server.url);
  await login(again, 'alice');
  await alice.waitForSelector('#conn-status[data-state="elsewhere"]', { timeout: WAIT_MS });
  assert.equal(await alice.isVisible('#banner'), true);
  assert.equal(await alice.isVisible('#banner-btn'), true);
  // The second tab has alice's stored conversation.
  await again.click(friendItem('bob'));
  await again.waitForFunction(() => [...document.querySelectorAll('#messages li[data-dir="out"]')]
    .some((li) => li.textContent.includes('typed while the server was down')), null, { timeout: WAIT_MS });

  await alice.click('#banner-btn');
  await waitConnected(alice);
  await again.waitForSelector('#conn-status[data-state="elsewhere"]', { timeout: WAIT_MS });
  assert.equal(await alice.isVisible('#banner'), false);
  await again.close();
});

test('a refused token goes back to the login screen', async () => {
  await alice.evaluate(() => {
    const key = 'courier.u.alice.session';
    const session = JSON.parse(localStorage.getItem(key));
    session.token = 'not.a.token';
    localStorage.setItem(key, JSON.stringify(session));
  });
  await alice.reload();
  await alice.waitForSelector('#login-screen', { state: 'visible', timeout: WAIT_MS });
  assert.match(await alice.textContent('#auth-error'), /session has ended/);
  // Logging in again brings the stored conversation back.
  await login(alice, 'alice');
  await alice.click(friendItem('bob'));
  await alice.waitForSelector('#messages li[data-dir="out"]', { timeout: WAIT_MS });
});
