// Courier's service worker: shows a notification for a push (docs/PROTOCOL.md
// "Push") when no tab of the page is visible. The push only says who wrote and
// how many messages wait; the page fetches them over the WebSocket when opened.
// Payload: {"type":"inbox","user","count","senders":[...],"messages"?:[{from,body}]}
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function describe(p) {
  const senders = Array.isArray(p.senders) ? p.senders : [];
  const count = Number(p.count) || 1;
  const who = senders.length ? senders.join(', ') : 'a friend';
  const title = count === 1 ? `New message from ${who}` : `${count} new messages from ${who}`;
  const last = Array.isArray(p.messages) && p.messages.length ? p.messages[p.messages.length - 1] : null;
  const body = last && typeof last.body === 'string'
    ? `${last.from}: ${last.body.slice(0, 200)}`
    : 'Open Courier to read.';
  return { title, body };
}

self.addEventListener('push', (event) => {
  let payload = {};
  try { payload = event.data ? event.data.json() : {}; } catch (e) { payload = {}; }
  event.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (tabs.some((c) => c.visibilityState === 'visible')) return;  // the page shows it
    const { title, body } = describe(payload);
    await self.registration.showNotification(title, {
      body,
      tag: 'courier-inbox',   // one notification, replaced by the next push
      renotify: true,
      data: { user: payload.user || '' },
    });
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const c of tabs) {
      if ('focus' in c) return c.focus();
    }
    return self.clients.openWindow('/');
  })());
});
