"""docs/PROTOCOL.md, error codes answered on an open connection (which stays open)."""

import json

import pytest

import courier_proto as cp


def check_error(err, code, cid=None):
    assert err["op"] == "error", err
    assert err["code"] == code, err
    assert isinstance(err.get("message"), str) and err["message"], err
    if cid is not None:
        assert err.get("cid") == cid, err


def still_open(c):
    c.ping()
    c.expect("pong")


@pytest.fixture
def alice_conn(server, pair):
    alice, bob = pair
    c = server.connect_synced(alice, "err")
    yield c, alice, bob
    c.close()


@pytest.fixture
def shared_conn(server, shared_pair):
    """A connection of a user shared by tests that store nothing."""
    alice, bob = shared_pair
    c = server.connect(alice, cp.unique_name("err"))
    c.expect("synced", skip=("presence", "msg", "receipt"))
    yield c, alice, bob
    c.close()


@pytest.mark.parametrize("raw", [
    "not json",
    "{\"op\": \"send\", ",
    "[]",
    "42",
    "\"ping\"",
    "{}",
    "{\"op\": 5}",
    "{\"op\": null}",
    "{\"op\": \"ack\"}",
    "{\"op\": \"ack\", \"seq\": \"1\"}",
    "{\"op\": \"ack\", \"seq\": -1}",
    "{\"op\": \"ack\", \"seq\": 1.5}",
    "{\"op\": \"read\", \"ids\": \"abc\"}",
    "{\"op\": \"read\", \"ids\": [1, 2]}",
    "{\"op\": \"read\", \"ids\": []}",
    "{\"op\": \"send\", \"cid\": 5, \"to\": \"x\", \"body\": \"b\"}",
    "{\"op\": \"send\", \"cid\": \"c\", \"to\": \"x\"}",
    "{\"op\": \"send\", \"cid\": \"c\", \"to\": \"x\", \"body\": 7}",
    "{\"op\": \"send\", \"cid\": \"\", \"to\": \"x\", \"body\": \"b\"}",
    "{\"op\": \"send\", \"cid\": \"" + "c" * 65 + "\", \"to\": \"x\", \"body\": \"b\"}",
])
def test_bad_frame(shared_conn, raw):
    c, _, _ = shared_conn
    c.send_raw(raw)
    check_error(c.error(), "bad_frame")
    still_open(c)


def test_unknown_op(shared_conn):
    c, _, _ = shared_conn
    c.send({"op": "teleport", "to": "mars"})
    check_error(c.error(), "unknown_op")
    still_open(c)


def test_second_hello_does_not_switch_user(alice_conn, server):
    c, alice, bob = alice_conn
    c.hello(bob.token, "other")
    # Whatever the server answers, the connection stays alice's.
    c.listen(cp.QUIET)
    if c.closed is None:
        assert not c.pending_ops("welcome"), list(c.pending)
        sent = c.message(bob.name, "still alice")
        assert sent["op"] == "sent", sent
        with server.connect(bob, "b") as b:
            m = b.next_event()
            assert m["from"] == alice.name


def test_too_large_body(alice_conn, server):
    c, _, bob = alice_conn
    cid = c.send_msg(bob.name, "x" * (64 * 1024 + 1))
    check_error(c.error(), "too_large", cid=cid)
    still_open(c)
    # Multi-byte characters count as their UTF-8 bytes: 21846 * 3 > 64 KiB.
    cid = c.send_msg(bob.name, "\u20ac" * 21846)
    check_error(c.error(), "too_large", cid=cid)
    # Nothing was stored.
    with server.connect(bob, "b") as b:
        assert b.welcome["head"] == 0


def test_too_large_read(shared_conn):
    c, _, _ = shared_conn
    c.read([f"id{i}" for i in range(1001)])
    check_error(c.error(), "too_large")
    still_open(c)


def test_not_friends(server, alice_conn):
    c, alice, _ = alice_conn
    stranger = server.new_user("stranger")
    cid = c.send_msg(stranger.name, "hello?")
    check_error(c.error(), "not_friends", cid=cid)
    still_open(c)
    # A pending request is no friendship yet.
    r = server.http("POST", "/v1/friends/request", {"user": stranger.name},
                    token=alice.token)
    assert r.status == 200, r
    cid = c.send_msg(stranger.name, "now?")
    check_error(c.error(), "not_friends", cid=cid)
    with server.connect(stranger, "s") as s:
        assert s.welcome["head"] == 0


def test_unknown_user(shared_conn):
    c, _, _ = shared_conn
    cid = c.send_msg(cp.unique_name("ghost"), "boo")
    check_error(c.error(), "unknown_user", cid=cid)
    still_open(c)


def test_bad_seq_for_an_ack_beyond_head(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        assert a.message(bob.name, "one")["op"] == "sent"
    with server.connect(bob, "b") as b:
        evs, synced = b.until_synced()
        assert synced["seq"] == 1
        b.ack(5)
        check_error(b.error(), "bad_seq")
        still_open(b)
        # An ack at or below the cursor is no error.
        b.ack(1)
        b.ack(1)
        b.ack(0)
        b.listen(cp.QUIET)
        b.barrier()
        assert not b.pending_ops("error"), list(b.pending)
    with server.connect(bob, "b") as b:
        assert b.welcome["cursor"] == 1, "the bad ack must not move the cursor"


def test_error_frames_keep_the_connection_usable(alice_conn, server):
    c, alice, bob = alice_conn
    c.send_raw("garbage")
    c.send({"op": "dance"})
    cid = c.send_msg(bob.name, "real")
    codes = [c.error()["code"], c.error()["code"]]
    assert sorted(codes) == ["bad_frame", "unknown_op"]
    sent = c.wait_op("sent", cid=cid)
    assert isinstance(sent["id"], str) and sent["id"]
    with server.connect(bob, "b") as b:
        m = b.next_event()
        assert m["body"] == "real" and m["from"] == alice.name


def test_json_with_escapes_and_unicode_round_trips(alice_conn, server):
    c, alice, bob = alice_conn
    body = "quote \" backslash \\ newline \n tab \t emoji \U0001F600 nul-free \u00e9\u4e2d"
    sent = c.message(bob.name, body)
    assert sent["op"] == "sent"
    with server.connect(bob, "b") as b:
        m = b.next_event()
        assert m["body"] == body
    # Raw UTF-8 in the frame (not \\u escapes) decodes the same.
    cid = cp.unique_name("c")
    c.send_raw(json.dumps({"op": "send", "cid": cid, "to": bob.name, "body": body},
                          ensure_ascii=False))
    assert c.wait_op("sent", cid=cid)


def test_binary_frame_is_a_bad_frame(shared_conn):
    c, _, _ = shared_conn
    c.ws.send_binary(b'{"op":"ping"}')
    check_error(c.error(), "bad_frame")
    still_open(c)


def test_limits_are_inclusive(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a:
        # A cid of 64 bytes is fine.
        sent = a.message(bob.name, "long cid", cid="c" * 64)
        assert sent["op"] == "sent", sent
        # A read of 1000 ids is fine (unknown ids change nothing).
        a.read([sent["id"]] + [f"id{i}" for i in range(999)])
        a.barrier()
        a.listen(cp.QUIET)
        assert not a.pending_ops("error"), list(a.pending)[:3]
