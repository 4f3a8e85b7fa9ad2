// Courier demo client: one page, no framework, no build step.
//
// What it keeps in localStorage, per user of this browser profile
// ("courier.u.<user>.<what>"):
//   session   {token, expires_at} from POST /v1/login
//   device    this profile's device id (random, made once)
//   seq       the highest inbox seq stored here; acked to the server after storing
//   conv.<p>  the conversation with friend <p>: [{id, cid, from, to, body, ts, status}]
//   peers     the friends with a stored conversation
//   presence  {friend: {online, last_seen}} as last heard
//   outgoing  friend requests sent from here that are not friendships yet
//   orphans   receipts whose message id is not known yet ({id: status}), and
//   orphanby  per member for group messages ({id: {member: status}})
//   groups    {id: {group, name, created_by, members: [{user, role, since}], left}}
//   conv.g:<id> a group's conversation: messages ({id, cid, from, group, body, ts,
//             status, dby, rby: members whose delivered / read receipt came,
//             skipped}) and membership lines ({event: true, id, text, ts})
// A conversation's key is the friend's name, or "g:" + the group's id (":" is
// never in a user name).
// The user of a tab lives in sessionStorage, so two tabs of one profile can be two
// people (the two-tab demo); a new tab starts as the profile's last user.
//
// Delivery rules (docs/PROTOCOL.md): hello without `since` resumes from the device's
// cursor on the server; each inbox event is stored first, then acked; a seq at or
// below the stored one is dropped. Own messages wait as "pending" until `sent`
// and are sent again with the same cid after a reconnect (the server answers a
// repeated cid with `dup: true`).
//
// Groups (docs/PROTOCOL.md "Groups"): the page asks `groups` after each welcome,
// keeps each group's members, shows group_event lines in the conversation, and
// turns the per-member receipts of an own group message into ✓✓ (every other
// member who was in the group when it was sent delivered) and blue (every one
// read). Typing: `typing` on while the composer is used (again every 3 s),
// off when sent, left or idle for 5 s; others' indicators expire by ttl_ms.
'use strict';

(() => {
  const MAX_KEEP = 1000;          // messages kept per conversation
  const PING_MS = 20000;          // keeps the server's idle timeout away
  const DEAD_MS = 65000;          // no frame for this long: reconnect
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };
  const TYPING_REFRESH_MS = 3000;  // `typing on` again while typing
  const TYPING_IDLE_MS = 5000;     // no key for this long: `typing off`
  const GROUP_NAME_MAX = 128;      // bytes, as the server's limit
  const isGroupKey = (k) => typeof k === 'string' && k.startsWith('g:');
  const groupKey = (id) => 'g:' + id;

  const $ = (id) => document.getElementById(id);

  // ---- storage -----------------------------------------------------------
  const local = {
    get(key, fallback) {
      try {
        const v = localStorage.getItem(key);
        return v === null ? fallback : JSON.parse(v);
      } catch (e) {
        return fallback;
      }
    },
    // False when the browser refused (e.g. its storage is full).
    set(key, value) {
      try {
        localStorage.setItem(key, JSON.stringify(value));
        return true;
      } catch (e) {
        console.warn('courier: could not store', key, e);
        return false;
      }
    },
    del(key) { localStorage.removeItem(key); },
  };
  const tab = {
    get(key) { try { return sessionStorage.getItem(key); } catch (e) { return null; } },
    set(key, v) { try { sessionStorage.setItem(key, v); } catch (e) { /* private mode */ } },
    del(key) { try { sessionStorage.removeItem(key); } catch (e) { /* private mode */ } },
  };

  function randomId(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---- state -------------------------------------------------------------
  let me = null;            // user name
  let session = null;       // {token, expires_at}
  let device = null;
  let lastSeq = 0;
  let peers = [];           // friends with a conversation
  let friends = [];         // from GET /v1/friends
  let friendsLoaded = false;  // the list was loaded once since sign-in
  let incoming = null;      // pending requests to me, when the server lists them
  let outgoing = [];
  let presence = {};
  let orphans = {};
  let orphanBy = {};
  let groups = {};          // id -> {group, name, created_by, members, left}
  const convs = new Map();  // peer -> [message]
  let openPeer = null;

  const key = (what) => `courier.u.${me}.${what}`;

  function loadUser(user) {
    me = user;
    session = local.get(key('session'), null);
    device = local.get(key('device'), null);
    if (!device || !NAME_RE.test(device)) {
      device = 'web-' + randomId(8);
      local.set(key('device'), device);
    }
    lastSeq = local.get(key('seq'), 0);
    peers = local.get(key('peers'), []);
    outgoing = local.get(key('outgoing'), []);
    presence = local.get(key('presence'), {});
    orphans = local.get(key('orphans'), {});
    orphanBy = local.get(key('orphanby'), {});
    groups = local.get(key('groups'), {});
    typingBy.clear();
    friends = [];
    friendsLoaded = false;
    incoming = null;
    convs.clear();
  }

  function conv(peer) {
    let c = convs.get(peer);
    if (!c) {
      c = local.get(key('conv.' + peer), []);
      convs.set(peer, c);
    }
    return c;
  }

  // Stores the conversation; when the browser's storage is full, drops its older
  // half and tries again. False when it still could not be stored.
  function saveConv(peer) {
    const c = conv(peer);
    if (c.length > MAX_KEEP) c.splice(0, c.length - MAX_KEEP);
    let ok = local.set(key('conv.' + peer), c);
    if (!ok && c.length > 1) {
      c.splice(0, Math.floor(c.length / 2));
      ok = local.set(key('conv.' + peer), c);
    }
    if (!peers.includes(peer)) {
      peers.push(peer);
      ok = local.set(key('peers'), peers) && ok;
    }
    return ok;
  }

  // ---- HTTP --------------------------------------------------------------
  async function api(path, { method = 'GET', body, auth = true } = {}) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) headers.Authorization = 'Bearer ' + session.token;
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw Object.assign(new Error('The server cannot be reached.'), { status: 0 });
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const msg = (data && data.message) || `The server answered ${res.status}.`;
      const err = Object.assign(new Error(msg), { status: res.status, code: data && data.error });
      if (auth && res.status === 401) endSession('Your session has ended: please log in again.');
      throw err;
    }
    return data || {};
  }

  // ---- login -------------------------------------------------------------
  function showLogin(message) {
    $('app-screen').hidden = true;
    $('login-screen').hidden = false;
    $('auth-error').textContent = message || '';
    $('auth-user').focus();
  }

  async function authenticate(register) {
    const user = $('auth-user').value.trim();
    const password = $('auth-pass').value;
    $('auth-error').textContent = '';
    if (!NAME_RE.test(user)) {
      $('auth-error').textContent = 'A name is 1-64 letters, digits, "_", "." or "-".';
      return;
    }
    if (password.length < 8) {
      $('auth-error').textContent = 'A password has at least 8 characters.';
      return;
    }
    for (const b of document.querySelectorAll('#auth-form button')) b.disabled = true;
    try {
      if (register) await api('/v1/register', { method: 'POST', body: { user, password }, auth: false });
      const res = await api('/v1/login', { method: 'POST', body: { user, password }, auth: false });
      loadUser(user);
      session = { token: res.token, expires_at: res.expires_at };
      local.set(key('session'), session);
      local.set('courier.lastUser', user);
      tab.set('courier.tabUser', user);
      $('auth-pass').value = '';
      startApp();
    } catch (e) {
      $('auth-error').textContent =
        e.status === 409 ? 'That name is taken.' :
        e.status === 401 ? 'Wrong name or password.' : e.message;
    } finally {
      for (const b of document.querySelectorAll('#auth-form button')) b.disabled = false;
    }
  }

  function endSession(message) {
    if (me) local.del(key('session'));
    tab.del('courier.tabUser');
    tab.del('courier.tabPeer');
    if (local.get('courier.lastUser', null) === me) local.del('courier.lastUser');
    stopSocket();
    clearInterval(friendsTimer);
    me = null;
    session = null;
    openPeer = null;
    showLogin(message);
  }

  // ---- friends -----------------------------------------------------------
  let friendsTimer = null;

  async function refreshFriends() {
    if (!session) return;
    try {
      const res = await api('/v1/friends');
      const before = friends;
      const loadedBefore = friendsLoaded;
      friendsLoaded = true;
      friends = Array.isArray(res.friends) ? res.friends.filter((u) => typeof u === 'string') : [];
      // Optional, additive fields: pending requests to and from this user.
      incoming = Array.isArray(res.incoming) ? res.incoming : null;
      if (Array.isArray(res.outgoing)) outgoing = res.outgoing.slice();
      const accepted = outgoing.filter((u) => friends.includes(u));
      if (accepted.length) setFriendMsg(`You and ${accepted.join(', ')} are friends now.`);
      outgoing = outgoing.filter((u) => !friends.includes(u));
      local.set(key('outgoing'), outgoing);
      renderSidebar();
      // A friendship made since the last welcome: its presence comes with the next one.
      // (Not on the first load, whose friends' presence the first welcome brings; but
      // also for a first friend, which the check `before.length` used to miss: the
      // other tab of a new friendship then never saw its friend come online.)
      if (loadedBefore && friends.some((u) => !before.includes(u) && !(u in presence))) {
        reconnectForPresence();
      }
    } catch (e) {
      if (e.status !== 401) setFriendMsg(e.message, true);
    }
  }

  function setFriendMsg(text, isError) {
    $('friend-msg').textContent = text;
    $('friend-msg').classList.toggle('error', !!isError);
  }

  // Accepts a pending request from `user`, or sends one (a request that the
  // other side has already sent makes the friendship too).
  async function addFriend(user) {
    if (!NAME_RE.test(user)) {
      setFriendMsg('A name is 1-64 letters, digits, "_", "." or "-".', true);
      return;
    }
    if (user === me) {
      setFriendMsg('That is you.', true);
      return;
    }
    if (friends.includes(user)) {
      setFriendMsg(`${user} is already your friend.`);
      openChat(user);
      return;
    }
    try {
      // With the server's list of requests to me, accept or ask; without it, try
      // to accept first (404: nothing to accept) and ask after.
      let accepted = false;
      if (!incoming || incoming.includes(user)) {
        try {
          await api('/v1/friends/accept', { method: 'POST', body: { user } });
          accepted = true;
        } catch (e) {
          if (e.status !== 404) throw e;
        }
      }
      if (!accepted) await api('/v1/friends/request', { method: 'POST', body: { user } });
      await refreshFriends();
      if (friends.includes(user)) {
        setFriendMsg(`You and ${user} are friends now.`);
        if (!(user in presence)) reconnectForPresence();
      } else {
        if (!outgoing.includes(user)) outgoing.push(user);
        local.set(key('outgoing'), outgoing);
        setFriendMsg(`Request sent: ${user} becomes your friend once they add you too.`);
        renderSidebar();
      }
      $('friend-input').value = '';
    } catch (e) {
      setFriendMsg(e.status === 404 ? `There is no user called ${user}.` : e.message, true);
    }
  }

  // ---- socket ------------------------------------------------------------
  let ws = null;
  let welcomed = false;
  let attempts = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let lastFrameAt = 0;
  let stopped = true;
  let storageBlocked = false;  // an event could not be stored: no acks until reconnect

  function setConn(state, text) {
    const el = $('conn-status');
    el.dataset.state = state;
    el.textContent = text;
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/ws';
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (stopped || ws) return;
    if (!session || (session.expires_at && session.expires_at <= Date.now())) {
      endSession('Your session has ended: please log in again.');
      return;
    }
    setConn('connecting', 'connecting…');
    welcomed = false;
    const sock = new WebSocket(wsUrl());
    ws = sock;
    sock.onopen = () => {
      lastFrameAt = Date.now();
      sock.send(JSON.stringify({ op: 'hello', token: session.token, device }));
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      lastFrameAt = Date.now();
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame.op === 'string') onFrame(frame);
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      welcomed = false;
      clearInterval(pingTimer);
      markAllOffline();
      if (stopped) return;
      if (ev.code === 4401) {
        endSession('Your session has ended: please log in again.');
      } else if (ev.code === 4409) {
        setConn('elsewhere', 'opened elsewhere');
        showBanner('Courier is open in another tab or window.', true);
      } else {
        scheduleReconnect();
      }
    };
    clearInterval(pingTimer);
    pingTimer = setInterval(() => {
      if (ws !== sock || sock.readyState !== WebSocket.OPEN) return;
      if (Date.now() - lastFrameAt > DEAD_MS) {
        sock.close();
        return;
      }
      sock.send(JSON.stringify({ op: 'ping' }));
    }, PING_MS);
  }

  function scheduleReconnect() {
    if (reconnectTimer || stopped) return;
    // 0.5 s, 1 s, 2 s, … up to 30 s, each with up to half of it as jitter.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempts);
    const delay = base / 2 + Math.random() * base / 2;
    attempts = Math.min(attempts + 1, 16);
    setConn('offline', `offline · retry in ${Math.ceil(delay / 1000)} s`);
    reconnectTimer = setTimeout(connect, delay);
  }

  function stopSocket() {
    stopped = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    clearInterval(pingTimer);
    if (ws) {
      const sock = ws;
      ws = null;
      try { sock.close(1000); } catch (e) { /* already closed */ }
    }
  }

  function startSocket() {
    stopped = false;
    attempts = 0;
    connect();
  }

  // A new friendship's presence comes with the next welcome.
  function reconnectForPresence() {
    if (!ws || !welcomed) return;
    const sock = ws;
    ws = null;
    try { sock.close(1000); } catch (e) { /* already closed */ }
    connect();
  }

  function sendFrame(frame) {
    if (!ws || !welcomed || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function onFrame(f) {
    switch (f.op) {
      case 'welcome':
        welcomed = true;
        storageBlocked = false;
        attempts = 0;
        hideBanner();
        setConn('syncing', 'syncing…');
        flushPending();
        markVisibleRead();
        refreshFriends();
        requestGroups(null);
        break;
      case 'synced':
        setConn('online', 'up to date');
        break;
      case 'sent':
        onSent(f);
        break;
      case 'msg':
      case 'receipt':
      case 'group_event':
        onInboxEvent(f);
        break;
      case 'group_ok':
        onGroupOk(f);
        break;
      case 'groups':
        onGroups(f);
        break;
      case 'typing':
        onTyping(f);
        break;
      case 'presence':
        if (typeof f.user === 'string') {
          presence[f.user] = { online: !!f.online, last_seen: f.last_seen ?? null };
          local.set(key('presence'), presence);
          renderSidebar();
          renderChatHeader();
        }
        break;
      case 'error':
        onError(f);
        break;
      default:
        break;  // pong and anything newer
    }
  }

  function onInboxEvent(f) {
    const seq = Number(f.seq);
    if (!Number.isSafeInteger(seq) || seq <= 0 || storageBlocked) return;
    if (seq <= lastSeq) {
      sendFrame({ op: 'ack', seq: lastSeq });  // already stored: just move the cursor
      return;
    }
    const stored = f.op === 'msg' ? storeIncoming(f) : f.op === 'receipt' ? storeReceipt(f) : storeGroupEvent(f);
    if (!stored || !local.set(key('seq'), seq)) {
      // Not stored, so not acked: the server keeps it and sends it again later.
      // Acks are cumulative: ack nothing more on this connection.
      storageBlocked = true;
      showBanner('This browser\'s storage is full: new messages wait on the server.', false);
      return;
    }
    lastSeq = seq;
    sendFrame({ op: 'ack', seq });
  }

  function storeIncoming(f) {
    const group = typeof f.group === 'string' && f.group ? f.group : null;
    const from = String(f.from);
    const peer = group ? groupKey(group) : from;
    const c = conv(peer);
    if (c.some((m) => m.id === f.id && (group || m.from === from))) return true;
    stopTypingOf(peer, from);
    let m;
    if (group && from === me) {
      // The group's copy of an own message, sent here (before `sent` came) or
      // from another device: onSent merges it with the pending one.
      m = { id: f.id, from: me, group, body: String(f.body ?? ''), ts: f.ts, status: 'sent', dby: [], rby: [] };
    } else {
      m = { id: f.id, from, to: me, body: String(f.body ?? ''), ts: f.ts, read: false };
      if (group) m.group = group;
    }
    c.push(m);
    if (!saveConv(peer)) {
      c.pop();
      return false;
    }
    if (openPeer === peer) {
      appendMessage(m);
      markVisibleRead();
    }
    renderSidebar();
    return true;
  }

  function storeReceipt(f) {
    const status = f.status;
    if (!(status in RANK)) return true;  // a status this page does not know: skip it
    const peer = String(f.by);
    const m = conv(peer).find((x) => x.from === me && x.id === f.id);
    if (!m) {
      // A group message's receipt names the member, not the group.
      for (const k of peers) {
        if (!isGroupKey(k)) continue;
        const gm = conv(k).find((x) => x.from === me && x.id === f.id && !x.event);
        if (!gm) continue;
        addGroupReceipt(gm, peer, status);
        setGroupStatus(k, gm);
        if (openPeer === k) updateTicks(gm);
        return saveConv(k);
      }
      if (RANK[status] > (RANK[orphans[f.id]] ?? 0)) orphans[f.id] = status;
      const ids = Object.keys(orphans);
      if (ids.length > 500) delete orphans[ids[0]];
      const by = orphanBy[f.id] || (orphanBy[f.id] = {});
      if (RANK[status] > (RANK[by[peer]] ?? 0)) by[peer] = status;
      const byIds = Object.keys(orphanBy);
      if (byIds.length > 500) delete orphanBy[byIds[0]];
      return local.set(key('orphans'), orphans) && local.set(key('orphanby'), orphanBy);
    }
    if (RANK[status] <= (RANK[m.status] ?? -1)) return true;
    m.status = status;
    if (openPeer === peer) updateTicks(m);
    return saveConv(peer);
  }

  function onSent(f) {
    for (const peer of new Set([...peers, ...friends])) {
      const c = conv(peer);
      const m = c.find((x) => x.from === me && x.cid === f.cid);
      if (!m) continue;
      m.id = f.id;
      if (typeof f.ts === 'number') m.ts = f.ts;
      delete m.error;
      if (isGroupKey(peer)) {
        onGroupSent(peer, c, m, f);
        return;
      }
      let status = m.status === 'pending' || m.status === 'failed' ? 'sent' : m.status;
      const early = orphans[f.id];
      if (early) {
        if (RANK[early] > RANK[status]) status = early;
        delete orphans[f.id];
        local.set(key('orphans'), orphans);
      }
      m.status = status;
      saveConv(peer);
      if (openPeer === peer) updateTicks(m);
      return;
    }
  }

  const retryTimers = new Map();  // cid -> timer

  function onError(f) {
    if (f.cid && onGroupError(f)) return;
    if (!f.cid) {
      console.warn('courier: server error', f.code, f.message);
      // A read marker the server could not store: say it again shortly.
      if (f.code === 'unavailable' && recentReads.length) {
        const ids = recentReads.splice(0);
        setTimeout(() => {
          for (let i = 0; i < ids.length; i += 1000) sendFrame({ op: 'read', ids: ids.slice(i, i + 1000) });
        }, 2000);
      }
      return;
    }
    for (const peer of peers) {
      const m = conv(peer).find((x) => x.from === me && x.cid === f.cid);
      if (!m || m.status !== 'pending') continue;
      if (f.code === 'rate_limited' || f.code === 'unavailable' || f.code === 'queue_full') {
        // Not stored: send again later with the same cid.
        const wait = Math.max(1000, Number(f.retry_after_ms) || 3000);
        clearTimeout(retryTimers.get(m.cid));
        retryTimers.set(m.cid, setTimeout(() => {
          retryTimers.delete(m.cid);
          if (m.status === 'pending') sendMessageFrame(m);
        }, wait));
        m.error = f.code === 'rate_limited' ? 'slowed down: retrying' : 'server busy: retrying';
      } else {
        m.status = 'failed';
        m.error = f.message || f.code;
      }
      saveConv(peer);
      if (openPeer === peer) updateTicks(m);
      return;
    }
  }

  function sendMessageFrame(m) {
    if (m.group) return sendFrame({ op: 'send', cid: m.cid, group: m.group, body: m.body });
    return sendFrame({ op: 'send', cid: m.cid, to: m.to, body: m.body });
  }

  function flushPending() {
    for (const peer of peers) {
      for (const m of conv(peer)) {
        if (m.from === me && m.status === 'pending' && !retryTimers.has(m.cid)) sendMessageFrame(m);
      }
    }
  }

  function sendMessage(text) {
    if (!openPeer || !text) return;
    if (new TextEncoder().encode(text).length > 65536) {
      alert('A message is at most 64 KiB.');
      return;
    }
    const m = { cid: 'c' + randomId(12), from: me, body: text, ts: Date.now(), status: 'pending' };
    if (isGroupKey(openPeer)) {
      const g = groups[openPeer.slice(2)];
      if (!g || g.left) {
        alert('You are no longer a member of this group.');
        return;
      }
      m.group = g.group;
      m.dby = [];
      m.rby = [];
    } else {
      m.to = openPeer;
    }
    typingStop();
    conv(openPeer).push(m);
    saveConv(openPeer);
    appendMessage(m);
    sendMessageFrame(m);
    renderSidebar();
  }

  function retryMessage(peer, m) {
    m.status = 'pending';
    delete m.error;
    saveConv(peer);
    updateTicks(m);
    sendMessageFrame(m);
  }

  // Ids of the last read markers sent, kept to send again if the server could
  // not store them (reads are idempotent).
  const recentReads = [];

  // Sends `read` for the open chat's unread messages while the page is visible
  // and its window has the focus (someone is looking at it).
  function markVisibleRead() {
    if (!openPeer || document.visibilityState !== 'visible' || !document.hasFocus() || !welcomed) return;
    const c = conv(openPeer);
    const unread = c.filter((m) => !m.event && m.from !== me && !m.read && m.id);
    if (!unread.length) return;
    for (let i = 0; i < unread.length; i += 1000) {
      const ids = unread.slice(i, i + 1000).map((m) => m.id);
      if (!sendFrame({ op: 'read', ids })) return;
      recentReads.push(...ids);
    }
    if (recentReads.length > 1000) recentReads.splice(0, recentReads.length - 1000);
    for (const m of unread) m.read = true;
    saveConv(openPeer);
    renderSidebar();
  }

  // ---- groups ------------------------------------------------------------
  const groupCids = new Map();  // cid of a `group` op -> {action, group, name}

  function saveGroups() { return local.set(key('groups'), groups); }

  function groupTitle(id) {
    const g = groups[id];
    return g && g.name ? g.name : id;
  }

  // Asks for every group of this user (id null) or for one.
  function requestGroups(id) {
    const f = { op: 'groups', cid: (id ? 'one-' : 'all-') + randomId(6) };
    if (id) f.group = id;
    sendFrame(f);
  }

  function onGroups(f) {
    if (!Array.isArray(f.groups)) return;
    const seen = new Set();
    for (const g of f.groups) {
      if (!g || typeof g.group !== 'string') continue;
      seen.add(g.group);
      const members = Array.isArray(g.members) ? g.members.filter((m) => m && typeof m.user === 'string')
        .map((m) => ({ user: m.user, role: m.role === 'admin' ? 'admin' : 'member', since: Number(m.since) || 0 })) : [];
      groups[g.group] = {
        group: g.group, name: String(g.name ?? g.group), created_by: g.created_by, members, left: false,
      };
    }
    // The whole list: a group not in it is one this user is no longer in.
    if (typeof f.cid === 'string' && f.cid.startsWith('all-')) {
      for (const id of Object.keys(groups)) if (!seen.has(id)) groups[id].left = true;
    }
    saveGroups();
    for (const k of peers) if (isGroupKey(k)) refreshGroupTicks(k);
    renderSidebar();
    renderChatHeader();
  }

  function groupOp(frame, then) {
    const cid = 'g' + randomId(10);
    groupCids.set(cid, then || {});
    if (!sendFrame({ op: 'group', cid, ...frame })) {
      groupCids.delete(cid);
      setGroupMsg('Not connected: try again in a moment.', true);
      return false;
    }
    return true;
  }

  function onGroupOk(f) {
    const req = groupCids.get(f.cid);
    if (!req) return;
    groupCids.delete(f.cid);
    setGroupMsg('');
    if (typeof f.group !== 'string') return;
    requestGroups(f.group);
    if (req.action === 'create') {
      if (!groups[f.group]) {
        groups[f.group] = {
          group: f.group, name: req.name, created_by: me, left: false,
          members: [{ user: me, role: 'admin', since: Date.now() }],
        };
        saveGroups();
      }
      saveConv(groupKey(f.group));
      $('group-form').hidden = true;
      openChat(groupKey(f.group));
    } else if (req.action === 'leave') {
      if (groups[f.group]) groups[f.group].left = true;
      saveGroups();
      renderChatHeader();
      renderSidebar();
    }
  }

  const GROUP_ERRORS = {
    unknown_group: 'There is no such group.',
    not_member: 'You are not a member of this group.',
    not_admin: 'Only an admin of the group can do that.',
    group_full: 'The group is full.',
    too_many_groups: 'Someone (you, or a member added) is in too many groups.',
    not_friends: 'You can only add your friends.',
    unknown_user: 'There is no such user.',
  };

  // An error answering a `group` op; false when the cid is not one of ours.
  function onGroupError(f) {
    if (!groupCids.has(f.cid)) return false;
    groupCids.delete(f.cid);
    setGroupMsg(GROUP_ERRORS[f.code] || f.message || f.code, true);
    return true;
  }

  function setGroupMsg(text, isError) {
    for (const id of ['group-msg', 'group-panel-msg']) {
      $(id).textContent = text;
      $(id).classList.toggle('error', !!isError);
    }
  }

  function findMember(g, user) { return g.members.find((m) => m.user === user); }

  // The line a membership event shows.
  function eventText(f) {
    const names = (list) => list.length <= 1 ? list.join('')
      : list.slice(0, -1).join(', ') + ' and ' + list[list.length - 1];
    const members = Array.isArray(f.members) ? f.members.map(String) : [];
    switch (f.action) {
      case 'create': {
        const others = members.filter((u) => u !== f.by);
        return `${f.by} created the group "${f.name}"` + (others.length ? ' with ' + names(others) : '');
      }
      case 'add': return `${names(members)} joined (added by ${f.by})`;
      case 'remove': return `${names(members)} ${members.length === 1 ? 'was' : 'were'} removed by ${f.by}`;
      case 'leave': return `${f.by} left` + (members.length > 1 ? `; ${members[1]} is now an admin` : '');
      case 'rename': return `${f.by} renamed the group to "${f.name}"`;
      default: return `${f.by} changed the group`;
    }
  }

  // A group_event: the members change here at once (the `groups` asked for
  // after it brings the exact record), and the conversation gets its line.
  function storeGroupEvent(f) {
    if (typeof f.group !== 'string' || !f.group) return true;
    const k = groupKey(f.group);
    const c = conv(k);
    if (c.some((m) => m.event && m.id === f.id)) return true;
    const members = Array.isArray(f.members) ? f.members.map(String) : [];
    const ts = Number(f.ts) || Date.now();
    let g = groups[f.group];
    if (!g) g = groups[f.group] = { group: f.group, name: f.group, members: [], left: false };
    const add = (u, role) => { if (!findMember(g, u)) g.members.push({ user: u, role, since: ts }); };
    const drop = (u) => { g.members = g.members.filter((m) => m.user !== u); };
    switch (f.action) {
      case 'create':
        g.members = [];
        for (const u of members) add(u, u === f.by ? 'admin' : 'member');
        g.created_by = f.by;
        g.left = !members.includes(me);
        break;
      case 'add':
        for (const u of members) add(u, 'member');
        if (members.includes(me)) g.left = false;
        break;
      case 'remove':
        for (const u of members) drop(u);
        if (members.includes(me)) g.left = true;
        break;
      case 'leave':
        drop(f.by);
        if (members.length > 1 && findMember(g, members[1])) findMember(g, members[1]).role = 'admin';
        if (f.by === me) g.left = true;
        break;
      default:
        break;
    }
    if ((f.action === 'create' || f.action === 'rename') && typeof f.name === 'string' && f.name) g.name = f.name;
    const line = { event: true, id: f.id, ts, text: eventText(f) };
    c.push(line);
    if (!saveConv(k)) {
      c.pop();
      return false;
    }
    saveGroups();
    if (!g.left) requestGroups(f.group);
    refreshGroupTicks(k);
    if (openPeer === k) {
      appendMessage(line);
      renderChatHeader();
      renderGroupPanel();
    }
    renderSidebar();
    return true;
  }

  function addGroupReceipt(m, by, status) {
    m.dby = m.dby || [];
    m.rby = m.rby || [];
    if (status === 'read' && !m.rby.includes(by)) m.rby.push(by);
    if ((status === 'delivered' || status === 'read') && !m.dby.includes(by)) m.dby.push(by);
  }

  // The members an own group message waits for: every other member who was in
  // the group when it was sent, and was not skipped (inbox full).
  function awaited(g, m) {
    if (!g) return [];
    return g.members.filter((x) => x.user !== me && !(m.skipped || []).includes(x.user) &&
      !(x.since && m.ts && x.since > m.ts)).map((x) => x.user);
  }

  function setGroupStatus(k, m) {
    if (m.status === 'pending' || m.status === 'failed') return;
    const want = awaited(groups[k.slice(2)], m);
    const rby = m.rby || [];
    const dby = m.dby || [];
    if (want.length && want.every((u) => rby.includes(u))) m.status = 'read';
    else if (want.length && want.every((u) => dby.includes(u) || rby.includes(u))) m.status = 'delivered';
    else m.status = 'sent';
  }

  // After the members changed (someone left, was removed): ticks may move on.
  function refreshGroupTicks(k) {
    let changed = false;
    for (const m of conv(k)) {
      if (m.event || m.from !== me) continue;
      const before = m.status;
      setGroupStatus(k, m);
      if (m.status !== before) {
        changed = true;
        if (openPeer === k) updateTicks(m);
      }
    }
    if (changed) saveConv(k);
  }

  function onGroupSent(k, c, m, f) {
    m.skipped = Array.isArray(f.skipped) ? f.skipped.map(String) : [];
    if (m.status === 'pending' || m.status === 'failed') m.status = 'sent';
    // The group's copy of it may have come first: this entry is the one kept.
    const i = c.findIndex((x) => x !== m && !x.cid && !x.event && x.from === me && x.id === m.id);
    if (i >= 0) {
      const copy = c[i];
      for (const u of copy.dby || []) addGroupReceipt(m, u, 'delivered');
      for (const u of copy.rby || []) addGroupReceipt(m, u, 'read');
      c.splice(i, 1);
      if (openPeer === k) {
        const li = document.querySelector(`#messages li[data-id="${CSS.escape(m.id)}"]:not([data-cid="${CSS.escape(m.cid)}"])`);
        if (li) li.remove();
      }
    }
    const early = orphanBy[f.id];
    if (early) {
      for (const [u, st] of Object.entries(early)) addGroupReceipt(m, u, st);
      delete orphanBy[f.id];
      local.set(key('orphanby'), orphanBy);
    }
    setGroupStatus(k, m);
    saveConv(k);
    if (m.skipped.length) setGroupMsg(`Not delivered to ${m.skipped.join(', ')}: their inbox is full.`, true);
    if (openPeer === k) updateTicks(m);
  }

  function createGroup() {
    const name = $('group-name').value.trim();
    if (!name || new TextEncoder().encode(name).length > GROUP_NAME_MAX) {
      setGroupMsg(`A group's name is 1-${GROUP_NAME_MAX} bytes.`, true);
      return;
    }
    const members = [...document.querySelectorAll('#group-friends input:checked')].map((i) => i.value);
    if (groupOp({ action: 'create', name, members }, { action: 'create', name })) $('group-name').value = '';
  }

  function showGroupForm() {
    const box = $('group-friends');
    box.replaceChildren();
    for (const u of [...friends].sort()) {
      box.append(el('label', { class: 'pick', 'data-testid': 'group-friend', 'data-user': u },
        el('input', { type: 'checkbox', value: u }), ' ', u));
    }
    if (!friends.length) box.append(el('p', { class: 'hint' }, 'Add friends first: a group is made of friends.'));
    setGroupMsg('');
    $('group-form').hidden = false;
    $('group-name').focus();
  }

  function openGroup() { return isGroupKey(openPeer) ? groups[openPeer.slice(2)] : null; }

  function renderGroupPanel() {
    const g = openGroup();
    const panel = $('group-panel');
    if (!g) {
      panel.hidden = true;
      return;
    }
    const admin = !g.left && findMember(g, me) && findMember(g, me).role === 'admin';
    const list = $('group-members');
    list.replaceChildren();
    for (const m of [...g.members].sort((a, b) => a.user.localeCompare(b.user))) {
      list.append(el('li', { class: 'member', 'data-testid': 'member', 'data-user': m.user, 'data-role': m.role },
        el('span', { class: 'name' }, m.user === me ? `${m.user} (you)` : m.user),
        m.role === 'admin' ? el('span', { class: 'hint role' }, 'admin') : null,
        admin && m.user !== me ? el('button', {
          type: 'button', class: 'link', 'data-testid': 'remove-member-btn',
          onclick: () => groupOp({ action: 'remove', group: g.group, members: [m.user] }),
        }, 'Remove') : null));
    }
    $('group-admin').hidden = !admin;
    $('group-leave-btn').hidden = !!g.left;
  }

  // ---- typing ------------------------------------------------------------
  const typingBy = new Map();  // conversation key -> Map(user -> expires at, ms)
  let typingTo = null;         // the conversation told `typing on`
  let typingSentAt = 0;
  let typingIdle = null;

  function typingFrame(k, on) {
    return isGroupKey(k) ? { op: 'typing', group: k.slice(2), on } : { op: 'typing', to: k, on };
  }

  // The composer changed: tell the open conversation (again every 3 s).
  function typingInput() {
    if (!openPeer || !$('composer-input').value) {
      typingStop();
      return;
    }
    const g = openGroup();
    if (isGroupKey(openPeer) && (!g || g.left)) return;
    if (typingTo !== openPeer || Date.now() - typingSentAt >= TYPING_REFRESH_MS) {
      if (typingTo && typingTo !== openPeer) sendFrame(typingFrame(typingTo, false));
      if (sendFrame(typingFrame(openPeer, true))) {
        typingTo = openPeer;
        typingSentAt = Date.now();
      }
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(typingStop, TYPING_IDLE_MS);
  }

  function typingStop() {
    clearTimeout(typingIdle);
    if (!typingTo) return;
    sendFrame(typingFrame(typingTo, false));
    typingTo = null;
  }

  function onTyping(f) {
    if (typeof f.from !== 'string' || f.from === me) return;
    const k = typeof f.group === 'string' && f.group ? groupKey(f.group) : f.from;
    let who = typingBy.get(k);
    if (!who) typingBy.set(k, who = new Map());
    if (f.on) {
      const ttl = Math.min(60000, Math.max(0, Number(f.ttl_ms) || 6000));
      who.set(f.from, Date.now() + ttl);
    } else {
      who.delete(f.from);
    }
    renderTyping();
  }

  function stopTypingOf(k, user) {
    const who = typingBy.get(k);
    if (who && who.delete(user)) renderTyping();
  }

  // "alice is typing…" for conversation `k`, or ''.
  function typingText(k) {
    const who = typingBy.get(k);
    if (!who) return '';
    const now = Date.now();
    const names = [...who].filter(([, until]) => until > now).map(([u]) => u);
    if (!names.length) return '';
    if (names.length === 1) return `${names[0]} is typing…`;
    return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
  }

  let typingShown = '';
  function renderTyping() {
    const now = Date.now();
    for (const [k, who] of typingBy) {
      for (const [u, until] of who) if (until <= now) who.delete(u);
      if (!who.size) typingBy.delete(k);
    }
    const text = openPeer ? typingText(openPeer) : '';
    $('typing').textContent = text;
    $('typing').hidden = !text;
    let sidebar = '';
    for (const k of typingBy.keys()) sidebar += k + ';';
    if (sidebar !== typingShown) {
      typingShown = sidebar;
      renderSidebar();
    }
  }

  function markAllOffline() {
    // Our view of others' presence is stale while disconnected; keep last_seen.
    let changed = false;
    for (const u of Object.keys(presence)) {
      if (presence[u].online) {
        presence[u] = { online: false, last_seen: presence[u].last_seen, stale: true };
        changed = true;
      }
    }
    if (changed) {
      renderSidebar();
      renderChatHeader();
    }
  }

  // ---- rendering ---------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function timeText(ts) {
    const d = new Date(ts);
    const now = new Date();
    const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (d.toDateString() === now.toDateString()) return hm;
    return d.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' ' + hm;
  }

  function presenceText(user) {
    const p = presence[user];
    if (!p) return '';
    if (p.online) return 'online';
    if (!p.last_seen) return p.stale ? '' : 'offline';
    const ago = Date.now() - p.last_seen;
    if (ago < 60000) return 'last seen just now';
    if (ago < 3600000) return `last seen ${Math.floor(ago / 60000)} min ago`;
    return 'last seen ' + timeText(p.last_seen);
  }

  function renderSidebar() {
    if (!me) return;
    const reqs = $('requests');
    reqs.replaceChildren();
    for (const u of incoming || []) {
      reqs.append(el('li', { class: 'request', 'data-testid': 'request', 'data-user': u },
        el('span', { class: 'name' }, u),
        el('button', { type: 'button', 'data-testid': 'accept-btn', onclick: () => addFriend(u) }, 'Accept')));
    }
    for (const u of outgoing) {
      reqs.append(el('li', { class: 'request', 'data-testid': 'outgoing', 'data-user': u },
        el('span', { class: 'name' }, u), el('span', { class: 'hint' }, 'waiting for them')));
    }
    $('requests-section').hidden = reqs.childElementCount === 0;

    const list = $('friends');
    list.replaceChildren();
    const people = [...new Set([...friends, ...peers.filter((k) => !isGroupKey(k))])];
    people.sort((a, b) => lastTs(b) - lastTs(a) || a.localeCompare(b));
    for (const u of people) {
      const c = conv(u);
      const last = c[c.length - 1];
      const unread = c.filter((m) => m.from === u && !m.read).length;
      const p = presence[u];
      list.append(el('li', {
        class: 'friend' + (u === openPeer ? ' active' : ''),
        'data-testid': 'friend', 'data-user': u, tabIndex: 0,
        onclick: () => openChat(u),
        onkeydown: (e) => { if (e.key === 'Enter') openChat(u); },
      },
      el('span', { class: 'dot', 'data-online': p && p.online ? 'true' : 'false' }),
      el('div', { class: 'who' },
        el('span', { class: 'name' }, u),
        el('span', { class: 'presence', 'data-testid': 'presence', 'data-online': p && p.online ? 'true' : 'false' },
          presenceText(u)),
        typingText(u) ? el('span', { class: 'preview typing', 'data-testid': 'list-typing' }, typingText(u))
          : last ? el('span', { class: 'preview' }, (last.from === me ? 'You: ' : '') + last.body) : null),
      unread ? el('span', { class: 'badge', 'data-testid': 'unread' }, String(unread)) : null));
    }
    $('friends-empty').hidden = people.length > 0;
    renderGroupList();
  }

  function renderGroupList() {
    const list = $('groups');
    list.replaceChildren();
    const ids = Object.keys(groups).filter((id) => !groups[id].left || peers.includes(groupKey(id)));
    ids.sort((a, b) => lastTs(groupKey(b)) - lastTs(groupKey(a)) || groupTitle(a).localeCompare(groupTitle(b)));
    for (const id of ids) {
      const k = groupKey(id);
      const g = groups[id];
      const c = conv(k);
      const last = c[c.length - 1];
      const unread = c.filter((m) => !m.event && m.from !== me && !m.read).length;
      const typing = typingText(k);
      const preview = typing || (last ? (last.event ? last.text : (last.from === me ? 'You' : last.from) + ': ' + last.body)
        : g.left ? 'you left' : `${g.members.length} members`);
      list.append(el('li', {
        class: 'friend group' + (k === openPeer ? ' active' : ''),
        'data-testid': 'group', 'data-group': id, tabIndex: 0,
        onclick: () => openChat(k),
        onkeydown: (e) => { if (e.key === 'Enter') openChat(k); },
      },
      el('span', { class: 'dot group-dot' }, '#'),
      el('div', { class: 'who' },
        el('span', { class: 'name', 'data-testid': 'group-name' }, groupTitle(id)),
        el('span', { class: 'preview' + (typing ? ' typing' : ''), 'data-testid': typing ? 'list-typing' : 'preview' }, preview)),
      unread ? el('span', { class: 'badge', 'data-testid': 'unread' }, String(unread)) : null));
    }
    $('groups-empty').hidden = ids.length > 0;
  }

  function lastTs(u) {
    const c = conv(u);
    return c.length ? c[c.length - 1].ts || 0 : 0;
  }

  function renderChatHeader() {
    if (!openPeer) return;
    const g = openGroup();
    $('group-manage-btn').hidden = !isGroupKey(openPeer);
    if (isGroupKey(openPeer)) {
      $('chat-title').textContent = groupTitle(openPeer.slice(2));
      $('chat-presence').dataset.online = 'false';
      $('chat-presence').textContent = !g || g.left ? 'you are no longer a member'
        : [...g.members].map((m) => m.user === me ? 'you' : m.user).sort().join(', ');
      $('composer-input').disabled = !g || !!g.left;
      $('send-btn').disabled = !g || !!g.left;
      return;
    }
    $('composer-input').disabled = false;
    $('send-btn').disabled = false;
    $('chat-title').textContent = openPeer;
    const p = presence[openPeer];
    $('chat-presence').textContent = presenceText(openPeer);
    $('chat-presence').dataset.online = p && p.online ? 'true' : 'false';
  }

  function ticksFor(m) {
    switch (m.status) {
      case 'pending': return ['◷', 'waiting to send'];
      case 'sent': return ['✓', 'sent'];
      case 'delivered': return ['✓✓', 'delivered'];
      case 'read': return ['✓✓', 'read'];
      case 'failed': return ['!', 'not sent: ' + (m.error || 'error') + ' (click to retry)'];
      default: return ['', ''];
    }
  }

  function messageNode(m) {
    if (m.event) {
      return el('li', { class: 'event', 'data-testid': 'group-event', 'data-id': m.id || '' },
        el('span', {}, m.text), el('time', {}, m.ts ? ' · ' + timeText(m.ts) : ''));
    }
    const out = m.from === me;
    const li = el('li', {
      class: 'msg ' + (out ? 'out' : 'in'),
      'data-testid': 'message', 'data-dir': out ? 'out' : 'in',
      'data-id': m.id || '', 'data-cid': m.cid || '',
    },
    m.group && !out ? el('span', { class: 'sender', 'data-testid': 'sender' }, m.from) : null,
    el('span', { class: 'body', 'data-testid': 'message-body' }, m.body),
    el('span', { class: 'meta' },
      el('time', {}, m.ts ? timeText(m.ts) : ''),
      out ? el('span', { class: 'ticks', 'data-testid': 'ticks' }) : null));
    if (out) fillTicks(li, m);
    return li;
  }

  function fillTicks(li, m) {
    const t = li.querySelector('.ticks');
    const [text, title] = ticksFor(m);
    li.dataset.id = m.id || '';
    li.dataset.status = m.status;
    t.dataset.status = m.status;
    t.textContent = text;
    t.title = m.error && m.status === 'pending' ? m.error : title;
    t.onclick = m.status === 'failed' ? () => retryMessage(openPeer, m) : null;
    if (m.group && m.status !== 'failed' && m.status !== 'pending') {
      t.title = 'click: read by';
      t.onclick = () => toggleReadBy(li, m);
      const open = li.querySelector('.readby');
      if (open) open.textContent = readByText(m);
    }
  }

  // "Read by bob · Delivered to carol · Waiting for dave" under an own group message.
  function readByText(m) {
    const want = awaited(groups[m.group], m);
    const rby = [...(m.rby || [])].sort();
    const dby = (m.dby || []).filter((u) => !rby.includes(u)).sort();
    const waiting = want.filter((u) => !rby.includes(u) && !dby.includes(u));
    const parts = [];
    if (rby.length) parts.push('Read by ' + rby.join(', '));
    if (dby.length) parts.push('Delivered to ' + dby.join(', '));
    if (waiting.length) parts.push('Waiting for ' + waiting.join(', '));
    if ((m.skipped || []).length) parts.push('Not delivered (inbox full): ' + m.skipped.join(', '));
    return parts.join(' · ') || 'No other members';
  }

  function toggleReadBy(li, m) {
    const open = li.querySelector('.readby');
    if (open) {
      open.remove();
      return;
    }
    li.append(el('span', { class: 'readby', 'data-testid': 'read-by' }, readByText(m)));
  }

  function updateTicks(m) {
    const li = document.querySelector(`#messages li[data-cid="${CSS.escape(m.cid || '')}"]`);
    if (li && m.cid) fillTicks(li, m);
  }

  function appendMessage(m) {
    const list = $('messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(messageNode(m));
    if (atBottom || m.from === me) list.scrollTop = list.scrollHeight;
  }

  function openChat(peer) {
    if (openPeer !== peer) typingStop();
    openPeer = peer;
    tab.set('courier.tabPeer', peer);
    $('chat').dataset.peer = peer;
    $('chat-empty').hidden = true;
    $('chat-header').hidden = false;
    $('messages').hidden = false;
    $('composer').hidden = false;
    renderChatHeader();
    const list = $('messages');
    list.replaceChildren(...conv(peer).map(messageNode));
    list.scrollTop = list.scrollHeight;
    markVisibleRead();
    renderSidebar();
    $('group-panel').hidden = true;
    renderTyping();
    $('composer-input').focus();
  }

  function closeChat() {
    typingStop();
    openPeer = null;
    $('group-panel').hidden = true;
    $('group-manage-btn').hidden = true;
    $('typing').hidden = true;
    $('chat').dataset.peer = '';
    $('chat-empty').hidden = false;
    $('chat-header').hidden = true;
    $('messages').hidden = true;
    $('composer').hidden = true;
    $('messages').replaceChildren();
  }

  function showBanner(text, withButton) {
    $('banner-text').textContent = text;
    $('banner-btn').hidden = !withButton;
    $('banner').hidden = false;
  }

  function hideBanner() { $('banner').hidden = true; }

  // ---- push notifications (sw.js) ---------------------------------------
  // "Notify me" registers sw.js, subscribes with the server's VAPID key and
  // stores the subscription for this device (PUT /v1/devices/{device}/push).
  // Once allowed, each start refreshes the stored subscription; logging out
  // removes it.
  const pushSupported = 'serviceWorker' in navigator && 'PushManager' in window &&
    'Notification' in window && window.isSecureContext;

  function base64UrlToBytes(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  async function enablePush(ask) {
    if (!pushSupported || !session) return;
    try {
      if (ask && Notification.permission === 'default') await Notification.requestPermission();
      if (Notification.permission !== 'granted') {
        $('push-btn').hidden = Notification.permission === 'denied';
        return;
      }
      const { public_key: key } = await api('/v1/push/vapid-public-key', { auth: false });
      const reg = await navigator.serviceWorker.register('sw.js');
      await navigator.serviceWorker.ready;
      let sub = await reg.pushManager.getSubscription();
      const current = sub && sub.options && sub.options.applicationServerKey;
      if (sub && current && btoa(String.fromCharCode(...new Uint8Array(current)))
          !== btoa(String.fromCharCode(...base64UrlToBytes(key)))) {
        await sub.unsubscribe();  // the server's key changed
        sub = null;
      }
      if (!sub) {
        sub = await reg.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: base64UrlToBytes(key),
        });
      }
      await api(`/v1/devices/${encodeURIComponent(device)}/push`, { method: 'PUT', body: sub.toJSON() });
      $('push-btn').hidden = true;
    } catch (e) {
      console.warn('courier: push notifications are off', e);
      $('push-btn').hidden = false;
    }
  }

  async function disablePush() {
    if (!pushSupported || !session || !device) return;
    try {
      await api(`/v1/devices/${encodeURIComponent(device)}/push`, { method: 'DELETE' });
    } catch (e) { /* best effort: the session is ending */ }
  }

  // ---- start -------------------------------------------------------------
  function startApp() {
    $('login-screen').hidden = true;
    $('app-screen').hidden = false;
    $('me').textContent = me;
    setFriendMsg('');
    closeChat();
    renderSidebar();
    const peer = tab.get('courier.tabPeer');
    if (peer && (NAME_RE.test(peer) || (isGroupKey(peer) && groups[peer.slice(2)]))) openChat(peer);
    refreshFriends();
    clearInterval(friendsTimer);
    // While a request waits, look for the friendship now and then.
    friendsTimer = setInterval(() => { if (outgoing.length || incoming) refreshFriends(); }, 5000);
    startSocket();
    $('push-btn').hidden = !pushSupported || Notification.permission !== 'default';
    if (pushSupported && Notification.permission === 'granted') enablePush(false);
  }

  // Tabs of this profile tell each other who they are, so that a new tab does
  // not take over a user that another tab has open (same device: 4409).
  const channel = 'BroadcastChannel' in window ? new BroadcastChannel('courier') : null;
  if (channel) {
    channel.addEventListener('message', (e) => {
      if (e.data && e.data.q === 'who' && me) channel.postMessage({ user: me });
    });
  }

  function usersOfOtherTabs() {
    if (!channel) return Promise.resolve([]);
    return new Promise((resolve) => {
      const seen = [];
      const onAnswer = (e) => { if (e.data && typeof e.data.user === 'string') seen.push(e.data.user); };
      channel.addEventListener('message', onAnswer);
      channel.postMessage({ q: 'who' });
      setTimeout(() => {
        channel.removeEventListener('message', onAnswer);
        resolve(seen);
      }, 250);
    });
  }

  async function boot() {
    $('auth-form').addEventListener('submit', (e) => { e.preventDefault(); authenticate(false); });
    $('register-btn').addEventListener('click', () => {
      if ($('auth-form').reportValidity()) authenticate(true);
    });
    $('logout-btn').addEventListener('click', async () => {
      await disablePush();
      endSession('');
    });
    $('push-btn').addEventListener('click', () => enablePush(true));
    $('friend-form').addEventListener('submit', (e) => {
      e.preventDefault();
      addFriend($('friend-input').value.trim());
    });
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $('composer-input');
      const text = input.value;
      if (!text.trim()) return;
      input.value = '';
      sendMessage(text);
    });
    $('composer-input').addEventListener('input', typingInput);
    $('new-group-btn').addEventListener('click', showGroupForm);
    $('group-cancel-btn').addEventListener('click', () => { $('group-form').hidden = true; });
    $('group-form').addEventListener('submit', (e) => {
      e.preventDefault();
      createGroup();
    });
    $('group-manage-btn').addEventListener('click', () => {
      $('group-panel').hidden = !$('group-panel').hidden;
      setGroupMsg('');
      renderGroupPanel();
    });
    $('group-add-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const g = openGroup();
      const user = $('group-add-input').value.trim();
      if (!g || !NAME_RE.test(user)) {
        setGroupMsg('A name is 1-64 letters, digits, "_", "." or "-".', true);
        return;
      }
      if (groupOp({ action: 'add', group: g.group, members: [user] })) $('group-add-input').value = '';
    });
    $('group-rename-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const g = openGroup();
      const name = $('group-rename-input').value.trim();
      if (!g || !name || new TextEncoder().encode(name).length > GROUP_NAME_MAX) {
        setGroupMsg(`A group's name is 1-${GROUP_NAME_MAX} bytes.`, true);
        return;
      }
      if (groupOp({ action: 'rename', group: g.group, name })) $('group-rename-input').value = '';
    });
    $('group-leave-btn').addEventListener('click', () => {
      const g = openGroup();
      if (g) groupOp({ action: 'leave', group: g.group }, { action: 'leave' });
    });
    setInterval(() => { if (me) renderTyping(); }, 500);
    $('banner-btn').addEventListener('click', () => {
      // Take over from the other tab: reload our state, connect again.
      hideBanner();
      const user = me;
      stopSocket();
      loadUser(user);
      startApp();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible' || !me) return;
      markVisibleRead();
      if (!ws && !stopped && $('conn-status').dataset.state !== 'elsewhere') connect();
    });
    window.addEventListener('focus', () => { if (me) markVisibleRead(); });
    window.addEventListener('online', () => {
      if (me && !ws && !stopped && $('conn-status').dataset.state !== 'elsewhere') connect();
    });
    setInterval(() => { if (me) { renderSidebar(); renderChatHeader(); } }, 30000);

    let user = tab.get('courier.tabUser');
    if (!user) {
      // A new tab: resume the profile's last user unless another tab has them open.
      user = local.get('courier.lastUser', null);
      if (user && (await usersOfOtherTabs()).includes(user)) user = null;
    }
    if (user && NAME_RE.test(user)) {
      loadUser(user);
      if (session && session.token && (!session.expires_at || session.expires_at > Date.now())) {
        tab.set('courier.tabUser', user);
        startApp();
        return;
      }
      $('auth-user').value = user;
      me = null;
    }
    showLogin('');
  }

  boot();
})();
