// Browser test: a three-person group on the web page (issue 17), against a real
// courier-server, with three browser profiles (three people, three devices).
//
//   COURIER_SERVER=/path/to/courier-server node --test group_chat.test.mjs
//
// The story: alice, bob and carol register; alice befriends bob and carol (bob
// and carol are not friends: a group needs none between members) and makes the
// group "trip" with both. Everyone sees the creation line and each other's
// messages, with the sender's name, in the same order. bob's typing shows on
// alice's and carol's pages. alice's message to the group turns ✓✓ only when
// both others have it, blue only when both read it, and "read by" names them.
// carol leaves: alice and bob see the line, carol's page can no longer send.
// Screenshot: tests/browser/screenshots/group-chat.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Server, WAIT_MS, befriend, contactSheet, friendItem, launchProfile, openPage, register, sendText, shutDown,
  ticks,
} from './helpers.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, 'screenshots');

let server = null;
const contexts = [];

before(async () => {
  server = new Server();
  await server.start();
  for (const who of ['alice', 'bob', 'carol']) {
    contexts.push(await launchProfile(path.join(server.tmp, 'profile-' + who)));
  }
});

after(async () => {
  const code = await shutDown(contexts, server);
  if (code !== null) assert.equal(code, 0, 'courier-server stops cleanly on SIGTERM');
});

const groupItem = (name) => `#groups li[data-testid="group"]:has-text("${name}")`;

// The open conversation's lines as text: "· <event>", "<sender>: <body>" or "me: <body>".
function lines(page) {
  return page.$$eval('#messages > li', (lis) => lis.map((li) => {
    if (li.dataset.testid === 'group-event') return '· ' + li.firstChild.textContent;
    const body = li.querySelector('[data-testid="message-body"]').textContent;
    if (li.dataset.dir === 'out') return 'me: ' + body;
    const sender = li.querySelector('[data-testid="sender"]');
    return (sender ? sender.textContent : '?') + ': ' + body;
  }));
}

async function waitLines(page, want) {
  try {
    await page.waitForFunction((n) => document.querySelectorAll('#messages > li').length >= n,
      want.length, { timeout: WAIT_MS });
  } finally {
    assert.deepEqual(await lines(page), want);
  }
}

// The status of the open chat's last outgoing message, once it is `status`.
async function waitLastTick(page, status) {
  await page.waitForFunction((want) => {
    const out = [...document.querySelectorAll('#messages li[data-dir="out"]')];
    return out.length && out[out.length - 1].dataset.status === want;
  }, status, { timeout: WAIT_MS });
}

test('a three-person group: messages in order, ticks per member, typing, a member leaves', async () => {
  const [alice, bob, carol] = await Promise.all(contexts.map((c) => openPage(c, server.url)));
  await register(alice, 'alice');
  await register(bob, 'bob');
  await register(carol, 'carol');
  await befriend(alice, 'alice', bob, 'bob');
  await befriend(alice, 'alice', carol, 'carol');

  // alice makes the group from her friends.
  await alice.click('#new-group-btn');
  await alice.fill('#group-name', 'trip');
  await alice.check('#group-friends [data-user="bob"] input');
  await alice.check('#group-friends [data-user="carol"] input');
  await alice.click('#group-create-btn');
  await alice.waitForSelector('#chat[data-peer^="g:"]', { timeout: WAIT_MS });
  const created = '· alice created the group "trip" with bob and carol';
  await waitLines(alice, [created]);
  assert.equal(await alice.textContent('#chat-title'), 'trip');

  // bob and carol find it in their group list and open it.
  for (const page of [bob, carol]) {
    await page.click(groupItem('trip'), { timeout: WAIT_MS });
    await page.waitForSelector('#chat[data-peer^="g:"]', { timeout: WAIT_MS });
    await waitLines(page, [created]);
    await page.waitForFunction(() => document.querySelector('#chat-presence').textContent.split(', ').length === 3,
      null, { timeout: WAIT_MS });
  }

  // bob types: alice and carol see it; it goes when he sends.
  await bob.type('#composer-input', 'hello', { delay: 20 });
  for (const page of [alice, carol]) {
    await page.waitForSelector('#typing:text-is("bob is typing…")', { timeout: WAIT_MS });
  }
  const typingShot = await alice.screenshot();
  await bob.fill('#composer-input', '');
  await sendText(bob, 'hello from bob');
  for (const page of [alice, carol]) {
    await page.waitForSelector('#typing', { state: 'hidden', timeout: WAIT_MS });
  }

  // Each one writes in turn; everyone sees the same order with the senders' names.
  await waitLines(alice, [created, 'bob: hello from bob']);
  await waitLines(carol, [created, 'bob: hello from bob']);
  await sendText(carol, 'hi, carol here');
  await waitLines(alice, [created, 'bob: hello from bob', 'carol: hi, carol here']);
  await waitLines(bob, [created, 'me: hello from bob', 'carol: hi, carol here']);

  // Ticks: bob and carol look at another chat, so alice's message is delivered
  // to them but not read: ✓ while one has not got it, ✓✓ when both have it.
  for (const page of [bob, carol]) {
    await page.click(friendItem('alice'));
    await page.waitForSelector('#chat[data-peer="alice"]', { timeout: WAIT_MS });
  }
  await sendText(alice, 'meet at 8?');
  await waitLastTick(alice, 'delivered');
  let [last] = (await ticks(alice)).slice(-1);
  assert.deepEqual(last.slice(0, 2), ['delivered', '✓✓']);
  const grey = last[2];
  // "read by", on click: delivered to both, read by none.
  await alice.click('#messages li[data-dir="out"]:last-child [data-testid="ticks"]');
  assert.equal(await alice.textContent('#messages li:last-child [data-testid="read-by"]'),
    'Delivered to bob, carol');
  // bob reads it: still ✓✓ (carol has not); then carol reads it: blue.
  await bob.click(groupItem('trip'));
  await waitLines(bob, [created, 'me: hello from bob', 'carol: hi, carol here', 'alice: meet at 8?']);
  await alice.waitForSelector('#messages li:last-child [data-testid="read-by"]:text-is("Read by bob · Delivered to carol")',
    { timeout: WAIT_MS });
  assert.equal(await alice.getAttribute('#messages li[data-dir="out"]:last-child', 'data-status'), 'delivered');
  await carol.click(groupItem('trip'));
  await waitLastTick(alice, 'read');
  [last] = (await ticks(alice)).slice(-1);
  assert.deepEqual(last.slice(0, 2), ['read', '✓✓']);
  assert.notEqual(last[2], grey, 'read ticks have their own (blue) colour');
  await alice.waitForSelector('#messages li:last-child [data-testid="read-by"]:text-is("Read by bob, carol")',
    { timeout: WAIT_MS });
  const readShot = await alice.screenshot();

  // carol leaves: alice and bob see the line and the members; carol cannot send.
  await carol.click('#group-manage-btn');
  await carol.click('#group-leave-btn');
  await waitLines(bob, [created, 'me: hello from bob', 'carol: hi, carol here', 'alice: meet at 8?', '· carol left']);
  await waitLines(alice, [created, 'bob: hello from bob', 'carol: hi, carol here', 'me: meet at 8?', '· carol left']);
  await carol.waitForSelector('#composer-input:disabled', { timeout: WAIT_MS });
  assert.equal(await carol.textContent('#chat-presence'), 'you are no longer a member');
  await alice.click('#group-manage-btn');
  await alice.waitForFunction(() => [...document.querySelectorAll('#group-members [data-testid="member"]')]
    .map((li) => li.dataset.user).join(',') === 'alice,bob', null, { timeout: WAIT_MS });
  // Now only bob is waited for: alice's next message turns blue once he (looking at it) read it.
  await sendText(alice, 'just us two');
  await waitLastTick(alice, 'read');
  await carol.waitForTimeout(500);
  assert.equal((await lines(carol)).includes('alice: just us two'), false, 'a member who left gets nothing more');

  mkdirSync(SHOTS, { recursive: true });
  const panes = [
    ['1. alice\'s page: "bob is typing…" in the group', typingShot],
    ['2. alice\'s ✓✓ turned blue: read by bob and carol', readShot],
    ['3. bob\'s page: carol left', await bob.screenshot()],
    ['4. carol\'s page: no longer a member', await carol.screenshot()],
  ];
  await contactSheet(contexts[0], panes, path.join(SHOTS, 'group-chat.png'));
});
