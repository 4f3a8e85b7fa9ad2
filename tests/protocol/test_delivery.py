"""docs/PROTOCOL.md, WebSocket: send / sent / msg / ack, resume with and without
`since`, the window W, two devices, idempotent cid, sender = token subject."""

import courier_proto as cp

W = 256  # docs/PROTOCOL.md: the server keeps at most W (default 256) unacked events in flight


def send_to_offline(server, sender, recipient, bodies):
    """`sender` sends every body to `recipient`, who has no connection, from a
    connection closed once each has its `sent`; returns the ids in order."""
    with server.connect(sender, "a") as a:
        return [f["id"] for f in a.send_many(recipient.name, bodies)]


def check_msg(m, seq, mid, sender, body):
    assert m["op"] == "msg", m
    assert m["seq"] == seq and type(m["seq"]) is int, m
    assert m["id"] == mid, m
    assert m["from"] == sender, m
    assert m["body"] == body, m
    assert type(m["ts"]) is int, m


def test_send_answers_sent_and_reaches_the_online_recipient(server, pair):
    alice, bob = pair
    with server.connect_synced(bob, "b") as b, server.connect(alice, "a") as a:
        before = cp.now_ms()
        cid = a.send_msg(bob.name, "hello bob")
        sent = a.wait_op("sent", cid=cid)
        after = cp.now_ms()
        assert isinstance(sent["id"], str) and 1 <= len(sent["id"]) <= 64, sent
        assert type(sent["ts"]) is int and before - 5000 <= sent["ts"] <= after + 5000, sent
        assert sent.get("dup", False) is False, sent
        m = b.next_event()
        check_msg(m, 1, sent["id"], alice.name, "hello bob")
        assert abs(m["ts"] - sent["ts"]) < 5000


def test_messages_arrive_in_order_with_seq_without_gaps(server, pair):
    alice, bob = pair
    with server.connect_synced(bob, "b") as b, server.connect(alice, "a") as a:
        ids = [f["id"] for f in a.send_many(bob.name, [f"n{i}" for i in range(40)])]
        assert len(set(ids)) == 40, "message ids must be distinct"
        evs = b.events(40)
        assert [e["seq"] for e in evs] == list(range(1, 41))
        assert [e["body"] for e in evs] == [f"n{i}" for i in range(40)]
        assert [e["id"] for e in evs] == ids


def test_sender_is_the_token_subject_not_a_from_field(server, pair):
    alice, bob = pair
    mallory = server.new_user("mallory")
    server.befriend(mallory, bob)
    with server.connect(alice, "a") as a:
        sent = a.message(bob.name, "who am i", **{"from": mallory.name, "user": mallory.name})
        assert sent["op"] == "sent", sent
    with server.connect(bob, "b") as b:
        m = b.next_event()
        assert m["from"] == alice.name


def test_repeated_cid_answers_dup_with_the_first_id(server, pair):
    alice, bob = pair
    carol = server.new_user("carol")
    server.befriend(carol, bob)
    with server.connect(alice, "a") as a:
        first = a.message(bob.name, "once", cid="same-cid")
        assert first["op"] == "sent" and not first.get("dup", False), first
        again = a.message(bob.name, "once", cid="same-cid")
        assert again["op"] == "sent", again
        assert again["dup"] is True and again["id"] == first["id"], again
        # Even with a different body, the cid decides.
        third = a.message(bob.name, "changed", cid="same-cid")
        assert third["dup"] is True and third["id"] == first["id"], third
    # A new connection (another device, even) still knows the cid.
    with server.connect(alice, "a2") as a2:
        again = a2.message(bob.name, "once", cid="same-cid")
        assert again["dup"] is True and again["id"] == first["id"], again
    # Another user's cid is another message.
    with server.connect(carol, "c") as c:
        other = c.message(bob.name, "mine", cid="same-cid")
        assert other["op"] == "sent" and not other.get("dup", False), other
        assert other["id"] != first["id"]
    with server.connect(bob, "b") as b:
        evs, synced = b.until_synced()
        assert [(e["from"], e["body"]) for e in evs] == [(alice.name, "once"),
                                                         (carol.name, "mine")]
        assert synced["seq"] == 2


def test_offline_messages_wait_and_resume_from_the_stored_cursor(server, pair):
    alice, bob = pair
    ids = send_to_offline(server, alice, bob, [f"m{i}" for i in range(5)])
    with server.connect(bob, "phone") as b:
        assert b.welcome["cursor"] == 0 and b.welcome["head"] == 5
        evs, synced = b.until_synced()
        assert [e["id"] for e in evs] == ids and synced["seq"] == 5
        b.ack(2)  # stored only the first two
        b.barrier()
    with server.connect(bob, "phone") as b:
        assert b.welcome["cursor"] == 2 and b.welcome["head"] == 5
        evs, synced = b.until_synced()
        # The unacked events come again, in order.
        assert [e["seq"] for e in evs] == [3, 4, 5]
        b.ack(5)
        b.barrier()
    with server.connect(bob, "phone") as b:
        assert b.welcome["cursor"] == 5
        evs, synced = b.until_synced()
        assert evs == [] and synced["seq"] == 5


def test_hello_with_since_replays_from_there(server, pair):
    alice, bob = pair
    ids = send_to_offline(server, alice, bob, [f"m{i}" for i in range(4)])
    with server.connect(bob, "phone") as b:
        evs, _ = b.until_synced()
        b.ack(4)
        b.barrier()
    # A device that lost its local state asks again from 0.
    with server.connect(bob, "phone", since=0) as b:
        evs, synced = b.until_synced()
        assert [e["seq"] for e in evs] == [1, 2, 3, 4]
        assert [e["id"] for e in evs] == ids
        assert synced["seq"] == 4
    with server.connect(bob, "phone", since=2) as b:
        evs, synced = b.until_synced()
        assert [e["seq"] for e in evs] == [3, 4]
    # Without since it is the stored cursor again.
    with server.connect(bob, "phone") as b:
        evs, synced = b.until_synced()
        assert evs == []


def test_window_of_unacked_events(server, pair):
    alice, bob = pair
    total = W + 24
    send_to_offline(server, alice, bob, [f"w{i}" for i in range(total)])
    with server.connect(bob, "slow") as b:
        assert b.welcome["head"] == total
        evs = b.events(W)
        assert [e["seq"] for e in evs] == list(range(1, W + 1))
        # Without an ack, nothing more is in flight.
        b.listen(2 * cp.QUIET)
        b.barrier()
        extra = b.pending_ops("msg", "receipt", "synced")
        assert extra == [], f"{len(extra)} frames beyond the window W={W}"
        b.ack(10)
        evs = b.events(10)
        assert [e["seq"] for e in evs] == list(range(W + 1, W + 11))
        b.ack(W + 10)
        evs, synced = b.until_synced()
        assert [e["seq"] for e in evs] == list(range(W + 11, total + 1))
        assert synced["seq"] == total


def test_two_devices_of_one_user_each_get_every_event(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        early = a.message(bob.name, "before anyone")["id"]
        with server.connect(bob, "phone") as p, server.connect(bob, "laptop") as l:
            for dev in (p, l):
                evs, synced = dev.until_synced()
                assert [e["id"] for e in evs] == [early] and synced["seq"] == 1
            p.ack(1)  # one device's ack is not the other's
            live = a.message(bob.name, "live")["id"]
            for dev in (p, l):
                m = dev.next_event()
                assert m["seq"] == 2 and m["id"] == live
            l.ack(2)
            l.barrier()
        # A third device starts from zero and gets everything.
        with server.connect(bob, "tablet") as t:
            assert t.welcome["cursor"] == 0 and t.welcome["head"] == 2
            evs, synced = t.until_synced()
            assert [e["id"] for e in evs] == [early, live]
        # Each device keeps its own cursor.
        with server.connect(bob, "phone") as p:
            assert p.welcome["cursor"] == 1
        with server.connect(bob, "laptop") as l:
            assert l.welcome["cursor"] == 2


def test_sends_from_both_sides_go_to_each_inbox(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a, server.connect_synced(bob, "b") as b:
        ab = a.message(bob.name, "hi bob")["id"]
        ba = b.message(alice.name, "hi alice")["id"]
        m = b.wait_op("msg")
        assert m["id"] == ab and m["from"] == alice.name and m["seq"] == 1
        m = a.wait_op("msg")
        assert m["id"] == ba and m["from"] == bob.name and m["seq"] == 1


def test_same_cid_twice_back_to_back_stores_once(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a:
        for _ in range(2):  # both may land in one group commit
            a.send_msg(bob.name, "racy", cid="twice")
        answers = [a.wait_op("sent", cid="twice") for _ in range(2)]
        assert answers[0]["id"] == answers[1]["id"], answers
        assert sorted(bool(x.get("dup")) for x in answers) == [False, True], answers
    with server.connect(bob, "b") as b:
        evs, synced = b.until_synced()
        assert [e["body"] for e in evs] == ["racy"] and synced["seq"] == 1


def test_concurrent_senders_get_distinct_gapless_seqs(server):
    bob, *senders = server.new_users("bob", "s", "s", "s")
    for s in senders:
        server.befriend(s, bob)
    conns = [server.connect(s, "d") for s in senders]
    try:
        for c in conns:
            c.expect("synced")
        per = 30
        for i in range(per):  # interleaved, without waiting for answers
            for k, c in enumerate(conns):
                c.send_msg(bob.name, f"{k}:{i}")
        for c in conns:
            for _ in range(per):
                assert c.wait_op("sent")["op"] == "sent"
    finally:
        for c in conns:
            c.close()
    with server.connect(bob, "b") as b:
        evs, synced = b.until_synced()
    assert [e["seq"] for e in evs] == list(range(1, 3 * per + 1))
    assert synced["seq"] == 3 * per
    for k, s in enumerate(senders):
        mine = [e["body"] for e in evs if e["from"] == s.name]
        # Each sender's messages, once each, in the order that sender sent them.
        assert mine == [f"{k}:{i}" for i in range(per)], mine


def test_live_sends_during_a_drain_keep_one_ordered_stream(server, pair):
    alice, bob = pair
    queued = W + 44
    with server.connect_synced(alice, "a") as a:
        a.send_many(bob.name, [f"q{i}" for i in range(queued)])
        with server.connect(bob, "b") as b:
            head = b.welcome["head"]
            assert head == queued
            live = [a.send_msg(bob.name, f"live{i}") for i in range(20)]
            stream = []  # msg and synced frames, in arrival order
            while len([f for f in stream if f["op"] == "msg"]) < queued + 20:
                f = b.wait_for(lambda f: f["op"] in ("msg", "synced"), what="msg or synced")
                stream.append(f)
                if f["op"] == "msg" and f["seq"] % 50 == 0:
                    b.ack(f["seq"])
                elif f["op"] == "msg" and f["seq"] == queued:
                    b.ack(f["seq"])
            for c in live:
                a.wait_op("sent", cid=c)
            if not any(f["op"] == "synced" for f in stream):
                stream.append(b.wait_op("synced"))
            seqs = [f["seq"] for f in stream if f["op"] == "msg"]
            assert seqs == list(range(1, queued + 21)), "one stream, in order, no gaps"
            synced_at = [i for i, f in enumerate(stream) if f["op"] == "synced"]
            assert len(synced_at) == 1, "synced once"
            i = synced_at[0]
            assert stream[i]["seq"] == head
            # synced comes right after the event at the head it promised.
            assert stream[i - 1]["op"] == "msg" and stream[i - 1]["seq"] == head, \
                stream[i - 2:i + 2]


def test_cursor_never_moves_back_after_a_replay(server, pair):
    alice, bob = pair
    send_to_offline(server, alice, bob, [f"m{i}" for i in range(4)])
    with server.connect(bob, "phone") as b:
        b.until_synced()
        b.ack(4)
        b.barrier()
    with server.connect(bob, "phone", since=0) as b:
        assert b.welcome["cursor"] == 4
        evs, _ = b.until_synced()
        assert [e["seq"] for e in evs] == [1, 2, 3, 4]
        b.ack(2)  # at or below the cursor: ignored
        b.barrier()
    with server.connect(bob, "phone", since=3) as b:
        evs, _ = b.until_synced()
        assert [e["seq"] for e in evs] == [4]
    with server.connect(bob, "phone") as b:
        assert b.welcome["cursor"] == 4
        evs, _ = b.until_synced()
        assert evs == []


def test_friendship_made_while_connected_allows_sending_at_once(server):
    alice, bob = server.new_users("alice", "bob")
    with server.connect_synced(alice, "a") as a:
        err = a.message(bob.name, "too early")
        assert err["op"] == "error" and err["code"] == "not_friends", err
        server.befriend(alice, bob)
        sent = a.message(bob.name, "now we are friends")
        assert sent["op"] == "sent", sent


def test_since_beyond_head_swallows_nothing_new(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        a.message(bob.name, "one")
        with server.connect(bob, "b", since=50) as b:
            b.until_synced()
            sent = a.message(bob.name, "two")
            m = b.next_event()
            assert m["id"] == sent["id"] and m["seq"] == 2, m


def test_bodies_keep_every_character(server, pair):
    alice, bob = pair
    bodies = ["", "nul \u0000 inside", " leading and trailing ", "\r\n", "\u202e rtl",
              "\U0001F469\u200d\U0001F4BB zwj", "x" * 1000]
    with server.connect(alice, "a") as a:
        ids = [a.message(bob.name, body) for body in bodies]
    answers = [x for x in ids if x["op"] != "sent"]
    # An empty body may be refused as a bad frame; every other one is stored.
    assert all(x["code"] == "bad_frame" for x in answers), answers
    kept = [b for b, x in zip(bodies, ids) if x["op"] == "sent"]
    assert kept[-len(bodies) + 1:] == bodies[1:]
    with server.connect(bob, "b") as b:
        evs, _ = b.until_synced()
        assert [e["body"] for e in evs] == kept
