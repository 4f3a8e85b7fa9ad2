"""docs/PROTOCOL.md, receipts: sent -> delivered -> read, exactly one receipt per
step, to an online or offline sender; status only moves forward."""

import courier_proto as cp


def inbox_of(server, user, device="audit"):
    """Every event of `user`'s inbox, replayed from 0 on a fresh device."""
    with server.connect(user, device, since=0) as c:
        evs, synced = c.until_synced()
    assert [e["seq"] for e in evs] == list(range(1, synced["seq"] + 1)), evs
    return evs


def receipts_for(evs, mid):
    return [e for e in evs if e["op"] == "receipt" and e["id"] == mid]


def check_receipt(r, mid, status, by):
    assert r["op"] == "receipt", r
    assert r["id"] == mid and r["status"] == status and r["by"] == by, r
    assert type(r["seq"]) is int and type(r["ts"]) is int, r


def test_delivered_then_read_to_an_online_sender(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a, server.connect_synced(bob, "b") as b:
        mid = a.message(bob.name, "tick tick")["id"]
        m = b.next_event()
        assert m["id"] == mid
        b.ack(m["seq"])
        r = a.next_event()
        check_receipt(r, mid, "delivered", bob.name)
        assert r["seq"] == 1
        b.read([mid])
        r = a.next_event()
        check_receipt(r, mid, "read", bob.name)
        assert r["seq"] == 2
        # Repeating the ack and the read changes nothing.
        b.ack(m["seq"])
        b.read([mid])
        b.barrier()
        a.listen(cp.QUIET)
        assert a.pending_ops("receipt") == [], list(a.pending)
    evs = inbox_of(server, alice)
    assert [(e["status"], e["id"]) for e in evs] == [("delivered", mid), ("read", mid)]


def test_receipts_reach_an_offline_sender_later(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a:
        m1 = a.message(bob.name, "one")["id"]
        m2 = a.message(bob.name, "two")["id"]
    with server.connect(bob, "b") as b:
        evs, _ = b.until_synced()
        b.ack(2)
        b.read([m1])
        b.barrier()
    with server.connect(alice, "a") as a:
        evs, synced = a.until_synced()
    got = [(e["id"], e["status"]) for e in evs]
    assert sorted(got[:2]) == sorted([(m1, "delivered"), (m2, "delivered")])
    assert got[2:] == [(m1, "read")]
    assert all(e["by"] == bob.name for e in evs)
    assert synced["seq"] == 3


def test_first_ack_by_any_device_makes_delivered_once(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        mid = a.message(bob.name, "two devices")["id"]
    for dev in ("phone", "laptop", "phone"):
        with server.connect(bob, dev, since=0) as b:
            evs, _ = b.until_synced()
            b.ack(1)
            b.read([mid])
            b.barrier()
    evs = inbox_of(server, alice)
    rs = receipts_for(evs, mid)
    assert [r["status"] for r in rs] == ["delivered", "read"], rs


def test_an_ack_covering_many_messages_makes_each_delivered(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        mids = [a.message(bob.name, f"m{i}")["id"] for i in range(5)]
    with server.connect(bob, "b") as b:
        b.until_synced()
        b.ack(5)  # cumulative
        b.read(mids)
        b.barrier()
    evs = inbox_of(server, alice)
    for mid in mids:
        assert [r["status"] for r in receipts_for(evs, mid)] == ["delivered", "read"]
    assert len(evs) == 10


def test_status_only_moves_forward(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        mid = a.message(bob.name, "read before acked")["id"]
    with server.connect(bob, "b") as b:
        b.until_synced()
        b.read([mid])  # read before any ack
        b.barrier()
        b.listen(cp.QUIET)
        b.ack(1)
        b.barrier()
    evs = inbox_of(server, alice)
    statuses = [r["status"] for r in receipts_for(evs, mid)]
    assert statuses and statuses[-1] == "read", statuses
    assert statuses.count("read") == 1 and statuses.count("delivered") <= 1, statuses
    assert statuses in (["read"], ["delivered", "read"]), \
        f"a delivered receipt after read moves status backwards: {statuses}"


def test_only_the_recipient_can_mark_read(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a:
        mid = a.message(bob.name, "mine")["id"]
        a.read([mid])  # the sender naming her own message does not make it read
        a.barrier()
        a.listen(cp.QUIET)
        assert a.pending_ops("receipt") == [], list(a.pending)
    with server.connect(bob, "b") as b:
        b.until_synced()
        b.ack(1)
        b.barrier()
    evs = inbox_of(server, alice)
    assert [r["status"] for r in receipts_for(evs, mid)] == ["delivered"]


def test_read_of_unknown_ids_is_harmless(server, pair):
    alice, bob = pair
    with server.connect_synced(bob, "b") as b:
        b.read(["no-such-id", "another"])
        b.barrier()
        b.listen(cp.QUIET)
        assert b.closed is None
        errs = b.pending_ops("error")
        assert all(e["code"] in ("bad_frame", "unauthorized") for e in errs), errs
        b.ping()
        b.expect("pong")


def test_every_device_of_the_sender_gets_the_receipts(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "phone") as p, server.connect_synced(alice, "laptop") as l:
        mid = p.message(bob.name, "from the phone")["id"]
        with server.connect(bob, "b") as b:
            b.until_synced()
            b.ack(1)
            b.read([mid])
            b.barrier()
        for dev in (p, l):
            check_receipt(dev.next_event(), mid, "delivered", bob.name)
            check_receipt(dev.next_event(), mid, "read", bob.name)


def test_one_read_of_messages_from_two_senders(server, pair):
    alice, bob = pair
    carol = server.new_user("carol")
    server.befriend(carol, bob)
    with server.connect(alice, "a") as a:
        ma = a.message(bob.name, "from alice")["id"]
    with server.connect(carol, "c") as c:
        mc = c.message(bob.name, "from carol")["id"]
    with server.connect(bob, "b") as b:
        b.until_synced()
        b.ack(2)
        b.read([ma, mc])
        b.barrier()
    for sender, mid in ((alice, ma), (carol, mc)):
        evs = inbox_of(server, sender)
        assert [(e["id"], e["status"], e["by"]) for e in evs] == \
            [(mid, "delivered", bob.name), (mid, "read", bob.name)], evs
