#!/usr/bin/env python3
"""The floor SQLite puts under W1: its store traffic alone, no server.

W1 (bench/README.md) commits, per message, one message row in the
recipient's inbox, its status change to delivered, one receipt row in the
sender's inbox, and the inboxes and cursors rows of both users, in batches of
about 100 messages from 200 pairs (the engine's group commit). This script
replays exactly that against a SQLite file with the settings of the default
store (WAL, synchronous=FULL: fsync before `sent`, page cache 64 MiB), once
per schema layout, and prints for each one the time of the COMMIT statement
alone (WAL writes, fsync, checkpoints) and the messages per second the
statements and commits allow, which is an upper bound for courier-server's W1
on this machine with that layout:

  v1        schema version 1: (inbox, seq) plus indexes on (sender, cid),
            (inbox, message id) and ts
  v2        schema version 2: only (inbox, seq) on disk; the two lookups are
            in memory (adapters/sqlite/src/row_index.h)
  log-only  no index at all (the log alone; what an in-memory (inbox, seq)
            index would leave on disk)

Usage: bench/sqlite_floor.py [ROUNDS] (default 1000 commits of 100 messages:
100,000 messages, as W1). Uses python3's sqlite3 module (Debian's libsqlite3).
The Python loop adds about 2-3 us per statement, so the msgs/s column is
pessimistic; the COMMIT column is SQLite's and the kernel's alone.
"""
import os
import shutil
import sqlite3
import sys
import tempfile
import time

PAIRS = 200
PER_COMMIT = 100
BODY = b"x" * 100

LAYOUTS = {
    "v1": [
        "CREATE UNIQUE INDEX events_by_sender_cid ON events (peer, cid) WHERE kind = 1",
        "CREATE UNIQUE INDEX events_by_message_id ON events (inbox, id) WHERE kind = 1",
        "CREATE INDEX events_by_ts ON events (ts)",
    ],
    "v2": [],
    "log-only": None,  # no (inbox, seq) either
}


def run(layout, rounds, workdir):
    path = os.path.join(workdir, layout + ".db")
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-65536",
                   "wal_autocheckpoint=1000"):
        db.execute("PRAGMA " + pragma)
    unique = "" if LAYOUTS[layout] is None else ", UNIQUE (inbox, seq)"
    db.executescript(f"""
CREATE TABLE inboxes (inbox TEXT PRIMARY KEY, head INTEGER NOT NULL,
  max_cursor INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE events (pos INTEGER PRIMARY KEY AUTOINCREMENT, inbox TEXT NOT NULL,
  seq INTEGER NOT NULL, kind INTEGER NOT NULL, id TEXT NOT NULL, peer TEXT NOT NULL,
  body BLOB, status INTEGER NOT NULL, ts INTEGER NOT NULL, cid BLOB{unique});
CREATE TABLE cursors (inbox TEXT NOT NULL, device TEXT NOT NULL, acked INTEGER NOT NULL,
  PRIMARY KEY (inbox, device)) WITHOUT ROWID;
""")
    for sql in LAYOUTS[layout] or []:
        db.execute(sql)
    senders = [f"sender{i:04d}" for i in range(PAIRS)]
    recipients = [f"recipient{i:04d}" for i in range(PAIRS)]
    head = {u: 0 for u in senders + recipients}
    n = 0
    commit_s = 0.0
    start = time.perf_counter()
    for r in range(rounds):
        db.execute("BEGIN IMMEDIATE")
        for i in range(PER_COMMIT):
            k = (2 * i + r) % PAIRS  # each sender every other commit, as in W1
            s, to = senders[k], recipients[k]
            n += 1
            mid = os.urandom(16).hex()
            head[to] += 1
            db.execute("INSERT INTO events (inbox, seq, kind, id, peer, body, status, ts, cid) "
                       "VALUES (?, ?, 1, ?, ?, ?, 0, ?, ?)",
                       (to, head[to], mid, s, BODY, n, os.urandom(12)))
            db.execute("UPDATE events SET status = 1 WHERE pos = last_insert_rowid()")
            head[s] += 1
            db.execute("INSERT INTO events (inbox, seq, kind, id, peer, body, status, ts, cid) "
                       "VALUES (?, ?, 2, ?, ?, NULL, 1, ?, NULL)", (s, head[s], mid, to, n))
            for u in (to, s):
                db.execute("INSERT INTO inboxes VALUES (?, ?, ?) ON CONFLICT (inbox) DO UPDATE "
                           "SET head = excluded.head, max_cursor = excluded.max_cursor",
                           (u, head[u], head[u]))
                db.execute("INSERT INTO cursors VALUES (?, 'phone', ?) ON CONFLICT (inbox, device) "
                           "DO UPDATE SET acked = excluded.acked", (u, head[u]))
        t = time.perf_counter()
        db.execute("COMMIT")
        commit_s += time.perf_counter() - t
    elapsed = time.perf_counter() - start
    db.close()
    print(f"{layout:9s} COMMIT {commit_s / rounds * 1e3:5.2f} ms per {PER_COMMIT} messages, "
          f"all {elapsed / rounds * 1e3:5.2f} ms: {rounds * PER_COMMIT / elapsed:7.0f} msgs/s",
          flush=True)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workdir = tempfile.mkdtemp(prefix="courier-sqlite-floor-")
    try:
        for layout in LAYOUTS:
            run(layout, rounds, workdir)
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
