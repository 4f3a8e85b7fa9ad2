"""docs/PROTOCOL.md, refusals that store nothing: rate_limited, queue_full,
unavailable (and /healthz answering 503 meanwhile)."""

import sqlite3
import time

import courier_proto as cp

UNDELIVERED_FLAGS = ["--max-undelivered", "--max-undelivered-events", "--undelivered-limit"]


def friends_on(s):
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    return alice, bob


def test_rate_limited_with_retry_after_ms(make_server):
    s = make_server(["--rate-limit", "3/600"], name="rate")
    alice, bob = friends_on(s)
    with s.connect_synced(alice, "a") as a:
        for i in range(3):
            assert a.message(bob.name, f"ok {i}")["op"] == "sent"
        cid = a.send_msg(bob.name, "too many")
        err = a.wait_op("error", cid=cid)
        assert err["code"] == "rate_limited", err
        assert type(err["retry_after_ms"]) is int, err
        assert 0 < err["retry_after_ms"] <= 600_000, err
        assert isinstance(err["message"], str) and err["message"]
        a.ping()
        a.expect("pong")
        # The limit is per sending user: bob still may send.
        with s.connect(bob, "b") as b:
            evs, synced = b.until_synced()
            assert synced["seq"] == 3, "the refused message must not be stored"
            assert b.message(alice.name, "my turn")["op"] == "sent"


def test_retry_after_ms_is_enough_to_send_again(make_server):
    s = make_server(["--rate-limit", "2/2"], name="retry")
    alice, bob = friends_on(s)
    with s.connect_synced(alice, "a") as a:
        answers = [a.message(bob.name, f"burst {i}") for i in range(3)]
        limited = [x for x in answers if x["op"] == "error"]
        assert limited and limited[0]["code"] == "rate_limited", answers
        wait_ms = limited[0]["retry_after_ms"]
        assert 0 < wait_ms <= 2000, limited[0]
        time.sleep(wait_ms / 1000 + 0.5)
        again = a.message(bob.name, "after waiting")
        assert again["op"] == "sent", again


def test_repeated_cid_is_answered_dup_even_when_rate_limited(make_server):
    """docs/PROTOCOL.md: a repeated cid answers the first id with dup: true. A
    client that lost its `sent` (a dropped connection) retries with the same
    cid; a rate limit must not hide that the message is already stored."""
    s = make_server(["--rate-limit", "1/600"], name="duprate")
    alice, bob = friends_on(s)
    with s.connect_synced(alice, "a") as a:
        first = a.message(bob.name, "once", cid="retry-me")
        assert first["op"] == "sent", first
        again = a.message(bob.name, "once", cid="retry-me")
        assert again["op"] == "sent" and again.get("dup") is True, again
        assert again["id"] == first["id"]
        # A new message is limited.
        new = a.message(bob.name, "new", cid="new-one")
        assert new["op"] == "error" and new["code"] == "rate_limited", new


def test_queue_full_refuses_without_dropping_anything(make_server, server_binary):
    flag = cp.pick_flag(server_binary, UNDELIVERED_FLAGS, "the undelivered limit")
    s = make_server(["--rate-limit", "1000/1", flag, "3"], name="qfull")
    alice, bob = friends_on(s)
    with s.connect_synced(alice, "a") as a:
        ids = [a.message(bob.name, f"q{i}")["id"] for i in range(3)]
        err = a.message(bob.name, "one too many", cid="overflow")
        assert err["op"] == "error" and err["code"] == "queue_full", err
        assert err["cid"] == "overflow"
        a.ping()
        a.expect("pong")
        with s.connect(bob, "b") as b:
            evs, synced = b.until_synced()
            assert [e["id"] for e in evs] == ids, "nothing stored may be dropped"
            b.ack(3)
            b.barrier()
        # Room again once delivered; the refused cid was not stored.
        retry = a.message(bob.name, "one too many", cid="overflow")
        assert retry["op"] == "sent" and not retry.get("dup", False), retry
    with s.connect(bob, "b") as b:
        m = b.next_event()
        assert m["seq"] == 4 and m["id"] == retry["id"]


def test_unavailable_when_the_store_cannot_commit(make_server, tmp_path):
    """Holds SQLite's write lock from outside, so the server's commit fails.
    On SQLite on purpose (not the default store): a lock another process can
    take is what makes a commit fail here."""
    db = tmp_path / "store.db"
    s = make_server(["--store", f"sqlite:{db}"], name="unavail")
    alice, bob = friends_on(s)
    with s.connect_synced(alice, "a") as a:
        assert a.message(bob.name, "before")["op"] == "sent"
        lock = sqlite3.connect(str(db), timeout=30, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            cid = a.send_msg(bob.name, "while locked", cid="locked-cid")
            got = a.wait_for(lambda f: f.get("cid") == cid and f["op"] in ("sent", "error"),
                             timeout=120, what="an answer while the store is locked")
            assert got["op"] == "error" and got["code"] == "unavailable", got
            # The server cannot accept sends now: healthz says so.
            health = s.http("GET", "/healthz")
            assert health.status == 503, health
            assert health.json()["error"] and health.json()["message"], health
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert s.http("GET", "/healthz").status == 200
        # Retrying the same cid stores it once.
        again = a.message(bob.name, "while locked", cid="locked-cid")
        assert again["op"] == "sent" and not again.get("dup", False), again
    with s.connect(bob, "b") as b:
        evs, synced = b.until_synced()
        assert [e["body"] for e in evs] == ["before", "while locked"]
