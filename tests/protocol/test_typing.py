"""docs/PROTOCOL.md "Typing": the `typing` op and frame. Relayed to the
connected devices of the peer (or of the other members of a group), never to
the typist's own devices, never stored, never answered, dropped when not
allowed or beyond --typing-rate."""

import time

import courier_proto as cp


def typing_frames(conn, seconds=cp.QUIET):
    """The typing frames that arrive within `seconds` (taken out of pending)."""
    conn.listen(seconds)
    got = conn.pending_ops("typing")
    for f in got:
        conn.pending.remove(f)
    return got


def test_typing_reaches_every_device_of_the_peer_and_none_of_mine(server, pair):
    alice, bob = pair
    with server.connect(alice, "a1") as a1, server.connect(alice, "a2") as a2, \
            server.connect(bob, "b1") as b1, server.connect(bob, "b2") as b2:
        for c in (a1, a2, b1, b2):
            c.expect("synced")
        a1.typing(True, to=bob.name)
        for b in (b1, b2):
            t = b.wait_op("typing")
            assert t == {"op": "typing", "from": alice.name, "on": True,
                         "ttl_ms": t["ttl_ms"]}, t
            assert type(t["ttl_ms"]) is int and 1000 <= t["ttl_ms"] <= 60_000, t
        a1.typing(False, to=bob.name)
        for b in (b1, b2):
            t = b.wait_op("typing")
            assert (t["from"], t["on"]) == (alice.name, False), t
            assert "group" not in t, t
        # Never answered, never to the typist's own devices.
        a1.barrier()
        assert typing_frames(a1) == [] and typing_frames(a2) == []
        assert a1.pending_ops("error") == [], list(a1.pending)


def test_typing_is_never_stored(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a, server.connect_synced(bob, "phone") as phone:
        a.typing(True, to=bob.name)
        assert phone.wait_op("typing")["from"] == alice.name
    # A device that connects after the relay finds nothing: not in the inbox,
    # not replayed.
    with server.connect(bob, "laptop") as b:
        evs, synced = b.until_synced()
        assert evs == [] and synced["seq"] == 0, evs
        assert typing_frames(b) == []


def test_typing_to_a_stranger_is_dropped(server):
    alice, stranger = server.new_users("alice", "stranger")
    with server.connect_synced(alice, "a") as a, server.connect_synced(stranger, "s") as s:
        a.typing(True, to=stranger.name)
        a.typing(True, to=alice.name)  # to oneself
        a.barrier()
        assert typing_frames(s) == []
        assert typing_frames(a) == [] and a.pending_ops("error") == [], list(a.pending)


def test_typing_in_a_group_reaches_the_other_members(server):
    alice, bob, carol = server.new_users("alice", "bob", "carol")
    server.befriend(alice, bob)
    server.befriend(alice, carol)
    outsider, = server.new_users("out")
    with server.connect(alice, "a1") as a1, server.connect(alice, "a2") as a2, \
            server.connect(bob, "b") as b, server.connect(carol, "c") as c, \
            server.connect(outsider, "o") as o:
        for x in (a1, a2, b, c, o):
            x.expect("synced")
        g = a1.create_group("Typists", [bob.name, carol.name])
        b.typing(True, group=g)
        for x in (a1, a2, c):
            t = x.wait_op("typing")
            assert (t["from"], t["on"], t["group"]) == (bob.name, True, g), t
        # Not to bob's own device, not to someone outside the group.
        assert typing_frames(b) == [] and typing_frames(o) == []
        # An outsider's typing in the group is dropped.
        o.typing(True, group=g)
        o.barrier()
        for x in (a1, b, c):
            assert typing_frames(x) == [], x.pending


def test_typing_beyond_the_rate_is_dropped(make_server):
    s = make_server(["--typing-rate", "3/3600"], name="typing")
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    with s.connect_synced(alice, "a") as a, s.connect_synced(bob, "b") as b:
        for i in range(10):
            a.typing(i % 2 == 0, to=bob.name)
        a.barrier()
        time.sleep(0.5)
        got = typing_frames(b, 2 * cp.QUIET)
        # The first three pass the rate, and arrive in the order typed: one
        # typist's ops are relayed through one ordered lane (CI of 2ab0a0b
        # under ASan saw off, on, on when the delivery pool relayed them
        # with no order).
        assert [t["on"] for t in got] == [True, False, True], got
        # The rate is per typist: bob still types to alice.
        b.typing(True, to=alice.name)
        assert a.wait_op("typing")["from"] == bob.name
    text = s.admin_http("GET", "/metrics").text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("courier_typing_")}
    assert values["courier_typing_dropped_total"] == 7, values
    assert values["courier_typing_relayed_total"] == 4, values
