"""docs/PROTOCOL.md, WebSocket: hello, welcome, synced, ping, and the close codes."""

import json
import time

import pytest

import courier_proto as cp


def test_hello_answers_welcome_with_user_device_cursor_head(server, pair):
    alice, _ = pair
    with server.connect(alice, "phone") as c:
        w = c.welcome
        assert w["op"] == "welcome"
        assert w["user"] == alice.name
        assert w["device"] == "phone"
        assert w["cursor"] == 0 and type(w["cursor"]) is int
        assert w["head"] == 0 and type(w["head"]) is int
        # An empty inbox is caught up at once.
        c.expect("synced", seq=0)


def test_hello_ignores_unknown_fields_and_a_claimed_user(server, shared_pair):
    alice, bob = shared_pair
    c = server.ws()
    with c:
        c.hello(alice.token, "d1", user=bob.name, flavour="mint")
        w = c.expect("welcome")
        assert w["user"] == alice.name, "the user is the token's subject"


def test_ping_answers_pong(server, shared_pair):
    alice, _ = shared_pair
    with server.connect_synced(alice) as c:
        c.ping()
        c.expect("pong")
        c.send({"op": "ping", "extra": [1, 2]})
        c.expect("pong")


def test_synced_once_per_connection_right_after_the_head(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        for i in range(3):
            assert a.message(bob.name, f"m{i}")["op"] == "sent"
        with server.connect(bob, "b") as b:
            assert b.welcome["head"] == 3 and b.welcome["cursor"] == 0
            frames = []
            while True:
                f = b.take(skip=("presence",))
                frames.append(f)
                if f["op"] == "synced":
                    break
            assert [f["op"] for f in frames] == ["msg", "msg", "msg", "synced"], frames
            assert [f["seq"] for f in frames[:3]] == [1, 2, 3]
            assert frames[3]["seq"] == 3
            # Live events keep coming after synced, without another synced.
            assert a.message(bob.name, "live")["op"] == "sent"
            live = b.next_event()
            assert live["seq"] == 4 and live["body"] == "live"
            b.ack(4)
            b.listen(cp.QUIET)
            b.barrier()
            assert b.pending_ops("synced") == [], "synced came twice on one connection"


def test_synced_comes_on_every_connection(server, shared_pair):
    alice, _ = shared_pair
    for _ in range(2):
        with server.connect(alice, "same") as c:
            c.expect("synced", seq=c.welcome["head"])


# -- 4401


def test_first_frame_other_than_hello_closes_4401(server):
    for first in ({"op": "ping"}, {"op": "send", "cid": "c", "to": "x", "body": "b"},
                  {"op": "ack", "seq": 1}):
        c = server.ws()
        c.send(first)
        assert c.expect_close() == 4401, first
        c.close()


@pytest.mark.parametrize("raw", ["not json", "{}", '{"op":"hello"}', '[1,2]',
                                 '{"op":"nonsense"}'])
def test_malformed_first_frame_closes_4401(server, raw):
    c = server.ws()
    c.send_raw(raw)
    assert c.expect_close() == 4401
    c.close()


def test_bad_tokens_close_4401(server, jwt_secret, shared_pair):
    alice, _ = shared_pair
    header, claims = cp.jwt_parts(alice.token)
    now_s = int(time.time())
    tokens = {
        "garbage": "garbage",
        "empty": "",
        "tampered payload": alice.token.split(".")[0] + "." +
        cp.b64url(json.dumps(dict(claims, sub="mallory")).encode()) + "." +
        alice.token.split(".")[2],
        "other key": cp.jwt_sign(b"x" * 32, header, claims),
        "alg none": cp.jwt_sign(b"", dict(header, alg="none"), claims),
        "alg HS512 label": cp.jwt_sign(jwt_secret[1], dict(header, alg="HS512"), claims),
        "expired": cp.jwt_sign(jwt_secret[1], header, dict(claims, exp=now_s - 3600)),
    }
    # Sanity: a token the tests mint with the server's key and a future exp works,
    # so the failures below are about what each case breaks.
    good = cp.jwt_sign(jwt_secret[1], header, dict(claims, exp=now_s + 3600))
    with server.connect(alice, "minted", token=good) as c:
        assert c.welcome["user"] == alice.name
    for what, token in tokens.items():
        c = server.ws()
        c.hello(token, "d")
        code = c.expect_close()
        assert code == 4401, f"{what}: closed with {code}, pending {list(c.pending)}"
        assert not c.pending_ops("welcome"), f"{what}: got welcome"
        c.close()


@pytest.mark.parametrize("hello", [
    {"device": ""}, {"device": "x" * 65}, {"device": "bad device"}, {"device": 7},
    {"device": None}, {"since": "zero"}, {"since": -1}, {"token": 5},
])
def test_bad_hello_fields_close_4401(server, shared_pair, hello):
    alice, _ = shared_pair
    frame = {"op": "hello", "token": alice.token, "device": "ok"}
    frame.update(hello)
    frame = {k: v for k, v in frame.items() if v is not None}
    c = server.ws()
    c.send(frame)
    assert c.expect_close() == 4401, frame
    c.close()


def test_device_name_of_64_allowed_chars_is_accepted(server, shared_pair):
    alice, _ = shared_pair
    dev = ("A.b-c_9" * 10)[:64]
    with server.connect(alice, dev) as c:
        assert c.welcome["device"] == dev


# -- 4409


def test_same_device_again_closes_the_older_with_4409(server, pair):
    alice, bob = pair
    old = server.connect_synced(bob, "tablet")
    new = server.connect(bob, "tablet")
    assert old.expect_close() == 4409
    old.close()
    with new:
        new.expect("synced")
        with server.connect(alice, "a") as a:
            assert a.message(bob.name, "to the new one")["op"] == "sent"
        assert new.next_event()["body"] == "to the new one"


def test_same_device_name_of_another_user_is_no_conflict(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "shared") as a, server.connect_synced(bob, "shared") as b:
        a.listen(cp.QUIET)
        a.barrier()
        b.barrier()


# -- 1009


def test_frame_over_the_size_limit_closes_1009(server, shared_pair):
    alice, _ = shared_pair
    c = server.connect_synced(alice, "big")
    # Far beyond any sane frame limit (the body limit is 64 KiB).
    big = json.dumps({"op": "ping", "pad": "x" * (4 * 1024 * 1024)})
    try:
        c.send_raw(big)
    except OSError:
        pass  # the server may stop reading before the whole frame is written
    assert c.expect_close() == 1009
    c.close()


def test_body_at_the_limit_fits_in_a_frame(server, pair):
    alice, bob = pair
    body = "b" * (64 * 1024)
    with server.connect(alice, "a") as a:
        sent = a.message(bob.name, body)
        assert sent["op"] == "sent", sent
        a.barrier()
    with server.connect(bob, "b") as b:
        m = b.next_event()
        assert m["body"] == body


# -- 4408


IDLE_FLAGS = ["--idle-timeout-ms", "--idle-ms", "--idle-timeout"]


def idle_args(binary, ms):
    flag = cp.pick_flag(binary, IDLE_FLAGS, "the idle timeout")
    value = str(ms) if flag.endswith("-ms") else f"{ms / 1000:g}"
    return [flag, value]


def test_idle_connection_closes_4408_and_pings_keep_it_open(make_server, server_binary):
    hello_flag = cp.pick_flag(server_binary, ["--hello-timeout-ms"], "the hello timeout")
    s = make_server(idle_args(server_binary, 2500) + [hello_flag, "1500"])
    u = s.new_user("idle")
    busy = s.connect_synced(u, "busy")
    quiet = s.connect_synced(u, "quiet")
    # A ping every 300 ms keeps "busy" open well past the timeout (2.5 s).
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        busy.ping()
        busy.expect("pong")
        time.sleep(0.3)
    assert quiet.expect_close(timeout=30) == 4408
    busy.ping()
    busy.expect("pong")
    busy.close()
    quiet.close()
    # A connection that never says hello is "no hello": 4401.
    silent = s.ws()
    assert silent.expect_close(timeout=30) == 4401
    silent.close()


def test_expired_login_token_closes_4401(make_server):
    s = make_server(["--token-ttl", "1"], name="ttl")
    u = s.new_user("ttl")
    assert u.expires_at - cp.now_ms() <= 2000, u.expires_at
    time.sleep(2.5)  # JWT exp has second granularity
    c = s.ws()
    c.hello(u.token, "d")
    assert c.expect_close() == 4401
    c.close()
    assert s.http("GET", "/v1/friends", token=u.token).status == 401


def test_frames_pipelined_right_after_hello_are_served(server, pair):
    alice, bob = pair
    with server.connect_synced(bob, "b") as b:
        c = server.ws()
        with c:
            # No waiting for welcome: hello, then a send, an ack and a ping.
            c.hello(alice.token, "fast")
            cid = c.send_msg(bob.name, "pipelined")
            c.ack(0)
            c.ping()
            frames = []
            while not ({"welcome", "sent", "synced", "pong"} <= {f["op"] for f in frames}):
                frames.append(c.take(skip=()))
            ops = [f["op"] for f in frames]
            assert "error" not in ops, frames
            # The answer to hello comes first, even before the pong the
            # connection answers by itself.
            assert ops[0] == "welcome", ops
            assert ops.index("welcome") < ops.index("sent"), ops
            assert ops.index("welcome") < ops.index("synced"), ops
            assert frames[ops.index("sent")]["cid"] == cid
        assert b.next_event()["body"] == "pipelined"
