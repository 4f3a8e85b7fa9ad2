#!/usr/bin/env python3
"""chaos.py: a seeded chaos driver against real courier-server processes.

Users and devices send, receive, ack and read over real sockets while faults
hit at random moments:
  server_kill      SIGKILL of courier-server, restarted on the same data dir
  conn_cut         a connection dropped without a close frame (RST or FIN)
  half_open        a connection that stops reading and writing, left open
  stalled_reader   a client that stops reading (and sending) for a while
  device_wipe      a device that lost its local state reconnects with since=0
  redis_restart    redis-server killed and started again (--backend pg)
  postgres_restart PostgreSQL stopped (fast or immediate) and started again
Every `sent`, every event and every receipt goes into a ledger. At the end
the driver heals everything, reconnects every device, retries every send
that never heard `sent` (same cid), reads every message, kills the server once
more and audits each inbox from seq 0, then checks:
  * every message that got `sent` is in its recipient's inbox (lost = 0);
  * no message id at two seqs, no cid with two ids (duplicates = 0);
  * no gap: each connection streams seq after seq, synced means complete;
  * no seq with two different contents, across devices and connections;
  * receipts exactly once per status step (delivered, then read);
  * presence: every friend online while connected; a user whose sockets
    go silent shows offline to every friend within idle timeout + TTL.
Prints the seed and a table; exit status 0 only when nothing was violated.

--backend rocksdb (the default) runs the server on its default store,
RocksDB in the data dir; --backend sqlite on --store sqlite:DIR/courier.db.
With --backend pg and --nodes N, N courier-server processes share the
private PostgreSQL and Redis; each connection goes to a random live node and
server_kill kills one node at a time.

  chaos.py --server BIN [--seed N] [--seconds S | --minutes M]
           [--backend rocksdb|sqlite|pg] [--nodes N]
"""

import argparse
import collections
import os
import random
import select
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))

from courier_server import RestartableServer, ServerStartError  # noqa: E402
from courier_wire import WireError, WsConn, http_json  # noqa: E402
from services import Postgres, Redis  # noqa: E402

HOST = "127.0.0.1"
IDLE_TIMEOUT_MS = 8000
PRESENCE_TTL_S = 30


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Ledger:
    """What the clients were told and saw, across every connection."""

    def __init__(self):
        self.cids = {}                       # cid -> dict(from, to, body, id, user)
        self.id_to_cid = {}
        self.inbox = collections.defaultdict(dict)        # user -> seq -> content
        self.msg_seqs = collections.defaultdict(lambda: collections.defaultdict(set))
        self.receipt_seqs = collections.defaultdict(lambda: collections.defaultdict(set))
        self.violations = collections.Counter()
        self.details = []
        self.redelivered = 0
        self.errors = collections.Counter()
        self.closes = collections.Counter()

    def violate(self, kind, text):
        self.violations[kind] += 1
        if len(self.details) < 50:
            self.details.append(f"{kind}: {text}")
        log("VIOLATION", kind, text)

    def acknowledged(self):
        return sum(1 for r in self.cids.values() if r["id"] is not None)


class Device:
    def __init__(self, user, name):
        self.user = user
        self.name = name
        self.conn = None
        self.local = {}          # seq -> content
        self.needs_since = False
        self.reconnect_at = 0.0
        self.stalled_until = 0.0
        self.last_ping = 0.0
        self.last_ack = 0.0
        self.presence = {}       # friend -> (online, last_seen)
        self.node = 0            # the server node of the current connection
        # The final phase's "read every message": due (send it when welcomed
        # and synced), sent (on the current connection), or neither. A read
        # the server refused (`unavailable`, which PROTOCOL.md says to send
        # again) or whose connection dropped is due again: reads are
        # idempotent, and the server answers nothing to one that committed.
        self.read_all = None     # None, "due" or "sent"
        self.reset_conn_state()

    def reset_conn_state(self):
        if getattr(self, "read_all", None) == "sent":
            self.read_all = "due"
        self.welcomed = False
        self.synced = 0
        self.next = 0
        self.head_at_welcome = 0
        self.acked_sent = 0
        self.since = None

    def contiguous(self):
        c = 0
        while c + 1 in self.local:
            c += 1
        return c


def content_of(m):
    if m["op"] == "msg":
        return ("msg", m["id"], m["from"], m["body"], m["ts"])
    return ("receipt", m["id"], m["status"], m["by"], m["ts"])


class Driver:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.ledger = Ledger()
        self.faults = collections.Counter()
        self.work = tempfile.mkdtemp(prefix="courier-chaos-")
        os.chmod(self.work, 0o755)
        self.redis = None
        self.pg = None
        self.servers = []
        self.users = [f"u{i}" for i in range(args.users)]
        self.devices = [Device(u, f"dev{d}") for u in self.users for d in range(args.devices)]
        self.tokens = {}
        self.zombies = []         # (conn, close_at): half-open connections
        self.pending_starts = []  # (when, what): services to start again
        self.start_failing_since = {}
        self.next_cid = 0
        self.sends = 0
        self.reads_refused = 0    # final reads answered unavailable, sent again
        self.unconfirmed = collections.defaultdict(set)   # user -> cids without `sent`
        self.window = self.rng.choice([2, 8, 64, 256])

    # --- setup -------------------------------------------------------------
    def setup(self):
        extra = ["--rate-limit", "1000000/1", "--idle-timeout-ms", str(IDLE_TIMEOUT_MS),
                 "--log-level", "warn", "--window", str(self.window)]
        if self.args.backend == "pg":
            self.redis = Redis(self.work)
            self.redis.start()
            self.pg = Postgres(self.work)
            self.pg.init()
            extra += ["--store", self.pg.url, "--redis", self.redis.url]
        # The nodes of one cluster share the token and storage keys.
        for name in ("jwt-secret", "storage-key"):
            with open(os.path.join(self.work, name), "wb") as f:
                f.write(os.urandom(48))
        extra += ["--jwt-secret-file", os.path.join(self.work, "jwt-secret"),
                  "--storage-key-file", os.path.join(self.work, "storage-key")]
        for i in range(self.args.nodes):
            data_dir = os.path.join(self.work, f"data{i}")
            store = []   # rocksdb: the default store, in the data dir
            if self.args.backend == "sqlite":
                store = ["--store", "sqlite:" + os.path.join(data_dir, "courier.db")]
            node = RestartableServer(self.args.server, data_dir,
                                     extra + store + ["--node-id", f"node-{i}"],
                                     log_path=os.path.join(self.work, f"server{i}.log"))
            node.start()
            self.servers.append(node)
        port = self.servers[0].port
        for u in self.users:
            st, doc = http_json(HOST, port, "POST", "/v1/register",
                                {"user": u, "password": "chaos-password"})
            assert st == 201, (st, doc)
            st, doc = http_json(HOST, port, "POST", "/v1/login",
                                {"user": u, "password": "chaos-password"})
            assert st == 200, (st, doc)
            self.tokens[u] = doc["token"]
        for i, a in enumerate(self.users):
            for b in self.users[i + 1:]:
                st, doc = http_json(HOST, port, "POST", "/v1/friends/request", {"user": b},
                                    token=self.tokens[a])
                assert st == 200, (st, doc)
                st, doc = http_json(HOST, port, "POST", "/v1/friends/accept", {"user": a},
                                    token=self.tokens[b])
                assert st == 200, (st, doc)

    def teardown(self):
        for node in self.servers:
            code = node.stop()
            if code != 0:
                self.ledger.violate("server_exit", f"SIGTERM exit status {code}")
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()
        if self.ledger.violations and self.args.keep_on_failure:
            log("kept work dir", self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- connections -------------------------------------------------------
    def connect(self, d, now):
        alive = [i for i, n in enumerate(self.servers) if n.alive()]
        if not alive:
            d.reconnect_at = now + 0.3
            return
        node = self.rng.choice(alive)
        since = None
        if d.needs_since:
            since = d.contiguous()
        try:
            conn = WsConn(HOST, self.servers[node].port, timeout=10)
            hello = {"op": "hello", "token": self.tokens[d.user], "device": d.name}
            if since is not None:
                hello["since"] = since
            conn.send_json(hello)
        except (OSError, WireError):
            d.reconnect_at = now + 0.2 + self.rng.random() * 0.8
            return
        d.conn = conn
        d.node = node
        d.reset_conn_state()
        d.since = since
        d.last_ping = now

    def drop(self, d, now, delay=None):
        """The device's connection is gone (closed by either side)."""
        if d.conn is not None:
            d.conn.cut(reset=False)
        d.conn = None
        d.reset_conn_state()
        d.reconnect_at = now + (delay if delay is not None else 0.1 + self.rng.random() * 0.5)

    def live(self, d):
        return d.conn is not None and d.welcomed and d.stalled_until <= time.monotonic()

    # --- frames ------------------------------------------------------------
    def handle(self, d, m, now):
        L = self.ledger
        if isinstance(m, tuple):
            if m[0] == "close":
                L.closes[m[1]] += 1
                self.drop(d, now)
            else:
                L.violate("bad_server_frame", f"{d.user}/{d.name}: {m!r}"[:200])
            return
        op = m.get("op")
        who = f"{d.user}/{d.name}"
        if op == "welcome":
            if d.welcomed:
                L.violate("protocol", f"{who}: second welcome")
            d.welcomed = True
            cursor, head = m["cursor"], m["head"]
            if cursor > head:
                L.violate("protocol", f"{who}: cursor {cursor} > head {head}")
            if d.since is None and cursor > d.contiguous():
                L.violate("gap", f"{who}: server cursor {cursor} beyond what the device has "
                                 f"({d.contiguous()})")
            start = min(d.since, head) if d.since is not None else cursor
            d.next = start + 1
            d.head_at_welcome = head
            self.retry_unconfirmed(d.user, now)
        elif op in ("msg", "receipt"):
            if not d.welcomed:
                L.violate("protocol", f"{who}: event before welcome")
                return
            seq = m["seq"]
            if seq < d.next:
                L.violate("order", f"{who}: seq {seq} after {d.next - 1} on one connection")
            elif seq > d.next and seq - 1 > d.acked_sent:
                L.violate("gap", f"{who}: expected seq {d.next}, got {seq}")
            d.next = seq + 1
            c = content_of(m)
            first = L.inbox[d.user].get(seq)
            if first is None:
                L.inbox[d.user][seq] = c
            elif first != c:
                L.violate("two_contents", f"{d.user} seq {seq}: {first!r:.120} vs {c!r:.120}")
            if seq in d.local:
                L.redelivered += 1
            d.local[seq] = c
            if op == "msg":
                self.check_message(d.user, seq, m)
            else:
                L.receipt_seqs[d.user][(m["id"], m["status"])].add(seq)
                if len(L.receipt_seqs[d.user][(m["id"], m["status"])]) > 1:
                    L.violate("receipt_twice", f"{d.user}: {m['status']} for {m['id']} at "
                                               f"{sorted(L.receipt_seqs[d.user][(m['id'], m['status'])])}")
        elif op == "synced":
            d.synced += 1
            if d.synced > 1:
                L.violate("protocol", f"{who}: synced twice")
            if m["seq"] != d.head_at_welcome:
                L.violate("protocol", f"{who}: synced {m['seq']} != welcome head "
                                      f"{d.head_at_welcome}")
            if d.contiguous() < m["seq"]:
                L.violate("gap", f"{who}: synced at {m['seq']} but has only "
                                 f"1..{d.contiguous()}")
            d.needs_since = False
        elif op == "sent":
            rec = L.cids.get(m["cid"])
            if rec is None:
                L.violate("protocol", f"{who}: sent for unknown cid {m['cid']}")
                return
            if rec["user"] != d.user:
                L.violate("protocol", f"{who}: sent for another user's cid {m['cid']}")
            if rec["id"] is None:
                rec["id"] = m["id"]
                L.id_to_cid[m["id"]] = m["cid"]
                self.unconfirmed[rec["user"]].discard(m["cid"])
            elif rec["id"] != m["id"]:
                L.violate("duplicate", f"cid {m['cid']} answered {rec['id']} then {m['id']}")
        elif op == "presence":
            d.presence[m["user"]] = (m["online"], m.get("last_seen"))
        elif op == "error":
            code = m.get("code")
            L.errors[code] += 1
            if code in ("unavailable", "rate_limited"):
                cid = m.get("cid")
                if cid is None and d.read_all == "sent":
                    # Not about a send: a refused read (or ack). Read again.
                    self.reads_refused += 1
                    d.read_all = "due"
                if cid in L.cids:
                    L.cids[cid]["conn"] = None     # eligible for a retry
                    L.cids[cid]["retry_at"] = now + 0.5
            else:
                L.violate("unexpected_error", f"{who}: {m}")
        elif op == "pong":
            pass
        else:
            L.violate("protocol", f"{who}: unknown op {m}"[:200])

    def check_message(self, user, seq, m):
        L = self.ledger
        seqs = L.msg_seqs[user][m["id"]]
        seqs.add(seq)
        if len(seqs) > 1:
            L.violate("duplicate", f"{user}: message {m['id']} at seqs {sorted(seqs)}")
        cid = m["body"].split("|", 1)[0]
        rec = L.cids.get(cid)
        if rec is None:
            L.violate("forged", f"{user} seq {seq}: a message nobody sent: {m['body'][:80]!r}")
            return
        if rec["from"] != m["from"] or rec["to"] != user or rec["body"] != m["body"]:
            L.violate("forged", f"{user} seq {seq}: from {m['from']} does not match cid {cid}")
        if rec["id"] is not None and rec["id"] != m["id"]:
            L.violate("duplicate", f"cid {cid} stored as {m['id']}, acknowledged as {rec['id']}")
        if rec.get("stored_id") not in (None, m["id"]):
            L.violate("duplicate", f"cid {cid} stored twice: {rec['stored_id']} and {m['id']}")
        rec["stored_id"] = m["id"]

    # --- client actions ----------------------------------------------------
    def send_new(self, d, now):
        others = [u for u in self.users if u != d.user]
        to = self.rng.choice(others)
        cid = f"{d.user}-c{self.next_cid}"
        self.next_cid += 1
        r = self.rng.random()
        size = self.rng.randint(0, 60) if r < 0.9 else self.rng.randint(500, 20000)
        filler = "".join(self.rng.choice("abcdefghij é☃") for _ in range(min(size, 200)))
        filler = (filler * (size // max(1, len(filler)) + 1))[:size]
        body = f"{cid}|{d.user}|{to}|{filler}"
        self.ledger.cids[cid] = {"from": d.user, "to": to, "body": body, "id": None,
                                 "user": d.user, "conn": None, "retry_at": 0.0}
        self.sends += 1
        self.unconfirmed[d.user].add(cid)
        self.transmit(d, cid, now)

    def transmit(self, d, cid, now):
        rec = self.ledger.cids[cid]
        try:
            d.conn.send_json({"op": "send", "cid": cid, "to": rec["to"], "body": rec["body"]})
            rec["conn"] = d.conn
            rec["retry_at"] = now + 30.0
        except WireError:
            self.drop(d, now)

    def retry_unconfirmed(self, user, now):
        """Resends, with the same cid, every send of `user` whose connection
        died (or was answered unavailable) before `sent`."""
        ds = [x for x in self.devices if x.user == user and self.live(x)]
        if not ds:
            return
        for cid in sorted(self.unconfirmed[user]):
            rec = self.ledger.cids[cid]
            conn = rec["conn"]
            stale = conn is None or conn.closed or all(x.conn is not conn for x in self.devices)
            if (stale and rec["retry_at"] <= now + 0.5) or rec["retry_at"] <= now:
                d = self.rng.choice(ds)
                if d.conn is not None:
                    self.transmit(d, cid, now)

    def ack(self, d, now):
        c = d.contiguous()
        if c > d.acked_sent:
            try:
                d.conn.send_json({"op": "ack", "seq": c})
                d.acked_sent = c
            except WireError:
                self.drop(d, now)
        d.last_ack = now

    def read_some(self, d, now, everything=False):
        ids = [c[1] for s, c in sorted(d.local.items()) if c[0] == "msg"]
        if not everything:
            ids = self.rng.sample(ids, min(len(ids), self.rng.randint(1, 20))) if ids else []
        for i in range(0, len(ids), 500):
            try:
                d.conn.send_json({"op": "read", "ids": ids[i:i + 500]})
            except WireError:
                self.drop(d, now)
                return

    # --- faults ------------------------------------------------------------
    def inject(self, now):
        kinds = ["conn_cut", "half_open", "stalled_reader", "device_wipe", "server_kill"]
        weights = [5, 3, 3, 1, 2]
        if self.args.backend == "pg":
            kinds += ["redis_restart", "postgres_restart"]
            weights += [1, 1]
        kind = self.rng.choices(kinds, weights)[0]
        connected = [d for d in self.devices if d.conn is not None]
        if kind in ("conn_cut", "half_open", "stalled_reader", "device_wipe") and not connected:
            return
        if kind == "conn_cut":
            d = self.rng.choice(connected)
            d.conn.cut(reset=self.rng.random() < 0.5)
            d.conn = None
            d.reset_conn_state()
            d.reconnect_at = now + self.rng.random() * 2
        elif kind == "half_open":
            d = self.rng.choice(connected)
            self.zombies.append((d.conn, now + self.rng.uniform(2, 25)))
            d.conn = None
            d.reset_conn_state()
            # Back soon (the server replaces the silent one) or only later.
            d.reconnect_at = now + (self.rng.random() if self.rng.random() < 0.5
                                    else self.rng.uniform(5, 15))
        elif kind == "stalled_reader":
            d = self.rng.choice(connected)
            d.stalled_until = now + self.rng.uniform(1, 15)
        elif kind == "device_wipe":
            d = self.rng.choice(connected)
            d.conn.close()
            d.conn = None
            d.reset_conn_state()
            d.local.clear()
            d.needs_since = True
            d.reconnect_at = now + self.rng.random()
        elif kind == "server_kill":
            alive = [i for i, n in enumerate(self.servers) if n.alive()]
            if not alive:
                return
            victim = self.rng.choice(alive)
            self.servers[victim].kill9()
            for d in self.devices:
                if d.conn is not None and d.node == victim:
                    d.conn.cut(reset=False)
                    d.conn = None
                    d.reset_conn_state()
                    d.reconnect_at = now + self.rng.random()
            self.pending_starts.append((now + self.rng.random() * 2, victim))
        elif kind == "redis_restart":
            if self.redis.proc is None:
                return
            self.redis.stop(hard=self.rng.random() < 0.5)
            self.pending_starts.append((now + self.rng.uniform(0.5, 6), "redis"))
        elif kind == "postgres_restart":
            if any(w == "postgres" for _, w in self.pending_starts):
                return
            self.pg.stop(self.rng.choice(["fast", "immediate"]))
            self.pending_starts.append((now + self.rng.uniform(0.5, 6), "postgres"))
        self.faults[kind] += 1

    def start_pending(self, now, force=False):
        keep = []
        # Services before servers: a node does not start while its store is down.
        for when, what in sorted(self.pending_starts, key=lambda x: isinstance(x[1], int)):
            if when > now and not force:
                keep.append((when, what))
                continue
            if isinstance(what, int):
                if self.servers[what].alive():
                    continue
                if not self.start_node(what, now, force):
                    keep.append((now + 1.0, what))
            elif what == "redis":
                self.redis.start()
            elif what == "postgres":
                self.pg.start()
        self.pending_starts = keep

    def start_node(self, i, now, force):
        """Starts node i; False (try again later) while PostgreSQL is down,
        since courier-server exits when it cannot open its store."""
        pg_down = any(w == "postgres" for _, w in self.pending_starts)
        try:
            self.servers[i].start(attempts=1 if pg_down and not force else 20)
            self.start_failing_since.pop(i, None)
            return True
        except ServerStartError:
            first = self.start_failing_since.setdefault(i, now)
            if now - first > 60:
                raise
            return False

    # --- the loop ----------------------------------------------------------
    def pump(self, now, timeout=0.02, acting=True):
        """One round of I/O: reads, reconnects, pings, acks."""
        for i, node in enumerate(self.servers):
            if node.proc is not None and node.proc.poll() is not None:
                # Not killed by us: a crash. Record it, start the node again
                # and go on, so the run still checks what was acknowledged.
                self.ledger.violate("server_crash", f"node {i} exited by itself with status "
                                                    f"{node.proc.returncode}; see {node.log_path}")
                node.kill9()  # reaps it
                node.start()
        socks = []
        for d in self.devices:
            if d.conn is None:
                if d.reconnect_at <= now:
                    self.connect(d, now)
                continue
            if d.stalled_until > now:
                continue
            socks.append(d.conn.sock)
        if socks:
            select.select(socks, [], [], timeout)
        else:
            time.sleep(timeout)
        now = time.monotonic()
        for d in self.devices:
            if d.conn is None or d.stalled_until > now:
                continue
            try:
                d.conn.flush()
                msgs = d.conn.poll()
            except WireError as e:
                self.ledger.violate("protocol", f"{d.user}/{d.name}: {e}")
                self.drop(d, now)
                continue
            for m in msgs:
                self.handle(d, m, now)
                if d.conn is None:
                    break
            if d.conn is not None and d.conn.closed:
                self.drop(d, now)
                continue
            if d.conn is None or not d.welcomed:
                continue
            if now - d.last_ping > 2.0:
                try:
                    d.conn.send_json({"op": "ping"})
                except WireError:
                    self.drop(d, now)
                    continue
                d.last_ping = now
            if now - d.last_ack > 0.2 or (msgs and self.rng.random() < 0.7):
                self.ack(d, now)
            if d.conn is not None and d.read_all == "due" and d.synced == 1:
                d.read_all = "sent"
                self.read_some(d, now, everything=True)
        for z in [z for z in self.zombies if z[1] <= now]:
            z[0].cut(reset=self.rng.random() < 0.5)
            self.zombies.remove(z)

    def chaos(self, seconds):
        start = time.monotonic()
        end = start + seconds
        next_fault = start + self.rng.expovariate(1 / self.args.fault_every)
        send_credit = 0.0
        last = start
        last_report = start
        while True:
            now = time.monotonic()
            if now >= end:
                break
            self.start_pending(now)
            self.pump(now)
            now = time.monotonic()
            send_credit += (now - last) * self.args.rate
            last = now
            live = [d for d in self.devices if self.live(d)]
            while send_credit >= 1 and live:
                send_credit -= 1
                d = self.rng.choice(live)
                if d.conn is not None:
                    self.send_new(d, now)
            send_credit = min(send_credit, 5)
            for d in live:
                if d.conn is not None and self.rng.random() < 0.01:
                    self.read_some(d, now)
            if self.rng.random() < 0.05:
                for u in self.users:
                    self.retry_unconfirmed(u, now)
            if now >= next_fault:
                self.inject(now)
                next_fault = now + self.rng.expovariate(1 / self.args.fault_every)
            if now - last_report > 30:
                last_report = now
                log(f"t={now - start:.0f}s sends={self.sends} acknowledged="
                    f"{self.ledger.acknowledged()} faults={dict(self.faults)}")

    def heal(self):
        """Every service up, every client reading, no half-open sockets."""
        now = time.monotonic()
        self.start_pending(now, force=True)
        if self.redis is not None and self.redis.proc is None:
            self.redis.start()
        for node in self.servers:
            if not node.alive():
                node.start()
        self.pending_starts = []
        for z, _ in self.zombies:
            z.cut()
        self.zombies.clear()
        for d in self.devices:
            d.stalled_until = 0.0
            d.reconnect_at = min(d.reconnect_at, now)

    def settle(self, what, done, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            self.pump(now, timeout=0.05)
            for u in self.users:
                self.retry_unconfirmed(u, now)
            if done():
                return True
        self.ledger.violate("stuck", f"{what} did not happen within {timeout} s")
        return False

    def all_synced_and_acked(self):
        for d in self.devices:
            if d.conn is None or not d.welcomed or d.synced != 1:
                return False
            if d.contiguous() != max(d.local, default=0) or d.acked_sent < d.contiguous():
                return False
        return not any(self.unconfirmed.values())

    def quiesce(self, timeout):
        """Waits until every send is confirmed and nothing has moved for 2 s."""
        self.settle("every send confirmed and every device synced", self.all_synced_and_acked,
                    timeout)
        quiet_since = time.monotonic()
        sizes = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(time.monotonic(), timeout=0.05)
            now_sizes = [len(d.local) for d in self.devices]
            if now_sizes != sizes or not self.all_synced_and_acked():
                sizes, quiet_since = now_sizes, time.monotonic()
            elif time.monotonic() - quiet_since > 2.0:
                return
        self.ledger.violate("stuck", "inboxes kept changing")

    def reconnect_all(self):
        now = time.monotonic()
        for d in self.devices:
            if d.conn is not None:
                d.conn.close()
            d.conn = None
            d.reset_conn_state()
            d.presence = {}
            d.reconnect_at = now

    def final(self):
        L = self.ledger
        log("healing: services up, readers back, half-open sockets closed")
        self.heal()
        self.quiesce(180)
        log("reading every message")
        for d in self.devices:
            if d.name == "dev0":
                d.read_all = "due"
        self.quiesce(120)
        for d in self.devices:
            if d.read_all == "due":
                L.violate("stuck", f"{d.user}/{d.name}: could not send its final read")
            d.read_all = None
        log("reconnecting every device")
        self.reconnect_all()
        self.quiesce(120)
        self.check_presence_online()
        self.check_presence_offline()
        log("killing the server once more and auditing every inbox from seq 0")
        for node in self.servers:
            node.kill9()
        for d in self.devices:
            if d.conn is not None:
                d.conn.cut()
                d.conn = None
        for node in self.servers:
            node.start()
        self.audit()
        self.check_ledger()

    def check_presence_online(self):
        def all_online():
            return all(d.presence.get(f, (False,))[0] for d in self.devices
                       for f in self.users if f != d.user)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all_online():
            self.pump(time.monotonic(), timeout=0.05)
        for d in self.devices:
            for f in self.users:
                if f != d.user and not d.presence.get(f, (False,))[0]:
                    self.ledger.violate("presence", f"{d.user}/{d.name} sees {f} offline while "
                                                    f"connected: {d.presence.get(f)}")

    def check_presence_offline(self):
        victim = self.rng.choice(self.users)
        silenced = time.monotonic()
        for d in self.devices:
            if d.user == victim and d.conn is not None:
                self.zombies.append((d.conn, silenced + 3600))
                d.conn = None
                d.reset_conn_state()
                d.reconnect_at = silenced + 3600
        watchers = [d for d in self.devices if d.user != victim]
        limit = IDLE_TIMEOUT_MS / 1000 + PRESENCE_TTL_S + 10
        seen = {}
        while time.monotonic() - silenced < limit and len(seen) < len(watchers):
            self.pump(time.monotonic(), timeout=0.05)
            for d in watchers:
                p = d.presence.get(victim)
                if (d.user, d.name) not in seen and p is not None and not p[0]:
                    seen[(d.user, d.name)] = time.monotonic() - silenced
                    if p[1] is None:
                        self.ledger.violate("presence", f"{victim} offline without last_seen")
        self.presence_offline_s = max(seen.values()) if seen else None
        if len(seen) < len(watchers):
            self.ledger.violate("presence", f"{victim} went silent; after {limit:.0f} s only "
                                            f"{len(seen)}/{len(watchers)} friends see it offline")
        else:
            log(f"{victim} silent: every friend saw it offline after "
                f"{self.presence_offline_s:.1f} s (limit {limit:.0f} s)")
        for z, _ in self.zombies:
            z.cut()
        self.zombies.clear()
        for d in self.devices:
            if d.user == victim:
                d.reconnect_at = time.monotonic()

    def audit(self):
        """A fresh device per user asks from seq 0: the store must give back
        exactly the ledger's inbox."""
        L = self.ledger
        for u in self.users:
            conn = None
            for _ in range(50):
                try:
                    conn = WsConn(HOST, self.rng.choice(self.servers).port, timeout=10)
                    break
                except (OSError, WireError):
                    time.sleep(0.2)
            conn.send_json({"op": "hello", "token": self.tokens[u], "device": "audit",
                            "since": 0})
            got, head = {}, None
            deadline = time.monotonic() + 120
            done = False
            while time.monotonic() < deadline and not done:
                for m in conn.poll():
                    if isinstance(m, tuple):
                        L.violate("audit", f"{u}: connection ended {m}")
                        done = True
                        break
                    if m["op"] == "welcome":
                        head = m["head"]
                    elif m["op"] in ("msg", "receipt"):
                        got[m["seq"]] = content_of(m)
                        conn.send_json({"op": "ack", "seq": m["seq"]})
                    elif m["op"] == "synced":
                        done = True
                select.select([conn.sock], [], [], 0.05)
            conn.close()
            if not done:
                L.violate("audit", f"{u}: no synced within 120 s")
                continue
            want = L.inbox[u]
            if head != len(want) or sorted(got) != list(range(1, len(want) + 1)):
                L.violate("audit", f"{u}: store head {head}, got {len(got)} events, "
                                   f"ledger has {len(want)}")
            for seq, c in want.items():
                if got.get(seq) != c:
                    L.violate("audit", f"{u} seq {seq}: store has {got.get(seq)!r:.100}, "
                                       f"clients saw {c!r:.100}")

    def check_ledger(self):
        L = self.ledger
        # Every device has its whole inbox.
        for d in self.devices:
            want = L.inbox[d.user]
            if sorted(d.local) != list(range(1, len(want) + 1)):
                L.violate("gap", f"{d.user}/{d.name} has {len(d.local)} of {len(want)} events")
        # Every acknowledged message is stored exactly once.
        stored = {}
        for u, ids in L.msg_seqs.items():
            for mid, seqs in ids.items():
                stored[mid] = (u, seqs)
        self.lost = 0
        for cid, rec in L.cids.items():
            if rec["id"] is None:
                L.violate("unconfirmed", f"cid {cid} never got sent")
                continue
            if rec["id"] not in stored:
                self.lost += 1
                L.violate("lost", f"cid {cid} id {rec['id']} ({rec['from']} -> {rec['to']}) "
                                  f"missing from the inbox")
            elif stored[rec["id"]][0] != rec["to"]:
                L.violate("forged", f"{rec['id']} in {stored[rec['id']][0]}'s inbox")
        # Receipts: one delivered, one read (everything was read), in order.
        for mid, (recipient, seqs) in stored.items():
            cid = L.id_to_cid.get(mid)
            sender = L.cids[cid]["from"] if cid else None
            if sender is None:
                continue
            r = L.receipt_seqs[sender]
            dl, rd = r.get((mid, "delivered"), set()), r.get((mid, "read"), set())
            if len(dl) != 1 or len(rd) != 1:
                L.violate("receipts", f"{mid} to {recipient}: {len(dl)} delivered, "
                                      f"{len(rd)} read receipts in {sender}'s inbox")
            elif min(dl) > min(rd):
                L.violate("receipts", f"{mid}: read receipt before delivered")
            for seq in dl | rd:
                c = L.inbox[sender].get(seq)
                if c is None or c[3] != recipient:
                    L.violate("receipts", f"{mid}: receipt at {seq} not by {recipient}")
        for u, r in L.receipt_seqs.items():
            for (mid, status), seqs in r.items():
                if mid not in stored:
                    L.violate("receipts", f"{u}: {status} receipt for unknown message {mid}")

    def report(self, started):
        L = self.ledger
        dup = L.violations["duplicate"]
        rows = [("seed", self.args.seed), ("backend", self.args.backend),
                ("duration (s)", f"{time.monotonic() - started:.0f}"),
                ("nodes", self.args.nodes),
                ("users x devices", f"{len(self.users)} x {self.args.devices}"),
                ("window", self.window)]
        for k in ["server_kill", "conn_cut", "half_open", "stalled_reader", "device_wipe",
                  "redis_restart", "postgres_restart"]:
            if k in self.faults or self.args.backend == "pg" or "restart" not in k:
                rows.append((f"faults: {k}", self.faults[k]))
        rows += [("faults: total", sum(self.faults.values())),
                 ("sends (distinct cids)", self.sends),
                 ("messages acknowledged (sent)", L.acknowledged()),
                 ("inbox events checked", sum(len(v) for v in L.inbox.values())),
                 ("lost", getattr(self, "lost", "n/a")),
                 ("duplicated as seen by a client", dup),
                 ("re-sent events dropped by seq", L.redelivered),
                 ("errors answered", dict(L.errors) or 0),
                 ("final reads refused and sent again", self.reads_refused),
                 ("close codes seen", dict(L.closes) or 0),
                 ("presence offline after silence (s)",
                  f"{self.presence_offline_s:.1f}" if getattr(self, "presence_offline_s", None)
                  is not None else "n/a"),
                 ("violations", dict(L.violations) or 0)]
        w = max(len(k) for k, _ in rows)
        print("\nchaos result")
        print(f"| {'what'.ljust(w)} | value |")
        print(f"| {'-' * w} | ----- |")
        for k, v in rows:
            print(f"| {k.ljust(w)} | {v} |")
        for line in L.details:
            print("  ", line)
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", default=os.environ.get("COURIER_SERVER"), required=False)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--backend", choices=["rocksdb", "sqlite", "pg"], default="rocksdb")
    p.add_argument("--nodes", type=int, default=1,
                   help="courier-server processes sharing the store (pg backend)")
    p.add_argument("--users", type=int, default=5)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--rate", type=float, default=25, help="new sends per second")
    p.add_argument("--fault-every", type=float, default=2.5, help="mean seconds between faults")
    p.add_argument("--keep-on-failure", action="store_true")
    args = p.parse_args()
    if not args.server or not os.access(args.server, os.X_OK):
        p.error("--server BIN (or COURIER_SERVER) must name the courier-server binary")
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    seconds = args.minutes * 60 if args.minutes is not None else args.seconds
    if args.nodes < 1 or (args.nodes > 1 and args.backend != "pg"):
        p.error("--nodes above 1 needs --backend pg (the nodes share PostgreSQL and Redis)")
    if args.backend == "pg":
        from services import pg_bindir
        if pg_bindir() is None or shutil.which("redis-server") is None:
            print("SKIPPED: chaos_postgres_redis: PostgreSQL server binaries or redis-server "
                  "not installed", flush=True)
            return 77
    print(f"chaos: seed {args.seed} (replay with --seed {args.seed}), backend {args.backend}, "
          f"{seconds:.0f} s of faults", flush=True)
    started = time.monotonic()
    drv = Driver(args)
    try:
        drv.setup()
        drv.chaos(seconds)
        drv.final()
    except Exception as e:  # a crash of the driver is a failure, with the seed printed
        drv.ledger.violate("driver", repr(e))
        import traceback
        traceback.print_exc()
    finally:
        drv.teardown()
    drv.report(started)
    print(f"chaos: seed {args.seed}: {'FAILED' if drv.ledger.violations else 'OK'}", flush=True)
    return 1 if drv.ledger.violations else 0


if __name__ == "__main__":
    sys.exit(main())
