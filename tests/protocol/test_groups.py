"""docs/PROTOCOL.md "Groups": the `group`, `groups` and group `send` rows, the
`group_event`, `group_ok`, `groups` frames, receipts per member, `skipped`,
duplicates and each group error code, over real sockets."""

import contextlib

import courier_proto as cp


def group_users(server, *prefixes):
    """Fresh users; the first is a friend of every other one."""
    users = server.new_users(*prefixes)
    for other in users[1:]:
        server.befriend(users[0], other)
    return users


@contextlib.contextmanager
def online(server, *users):
    """One connection per user (device "d"), each past `synced`."""
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(server.connect(u, "d")) for u in users]
        for c in conns:
            c.expect("synced")
        yield conns


def inbox_of(server, user, device=None):
    """Every event of `user`'s inbox, replayed from 0 on a fresh device."""
    with server.connect(user, device or cp.unique_name("audit"), since=0) as c:
        evs, synced = c.until_synced()
    assert [e["seq"] for e in evs] == list(range(1, synced["seq"] + 1)), evs
    return evs


def group_events(evs, group):
    return [(e["action"], e["by"], e["members"]) for e in evs
            if e["op"] == "group_event" and e["group"] == group]


def check_group_event(e, group, by, action, members, name=None):
    assert e["op"] == "group_event", e
    assert e["group"] == group and e["by"] == by and e["action"] == action, e
    assert e["members"] == members, e
    assert type(e["seq"]) is int and type(e["ts"]) is int and e["id"], e
    if name is None:
        assert "name" not in e, e
    else:
        assert e["name"] == name, e


def test_create_tells_every_member_and_lists_the_group(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    with server.connect_synced(alice, "a") as a, server.connect_synced(bob, "b") as b:
        ok = a.group_op("create", name="Trip \u00e9", members=[bob.name, carol.name])
        assert ok["op"] == "group_ok" and ok["changed"] is True and ok["version"] == 1, ok
        assert "dup" not in ok, ok
        g = ok["group"]
        assert isinstance(g, str) and 1 <= len(g) <= 64, ok
        members = [alice.name, bob.name, carol.name]
        check_group_event(a.next_event(), g, alice.name, "create", members, "Trip \u00e9")
        check_group_event(b.next_event(), g, alice.name, "create", members, "Trip \u00e9")
        listed = b.list_groups()
        assert listed["op"] == "groups", listed
        assert [x["group"] for x in listed["groups"]] == [g], listed
        rec = listed["groups"][0]
        assert rec["name"] == "Trip \u00e9" and rec["created_by"] == alice.name, rec
        assert rec["version"] == 1 and type(rec["created"]) is int, rec
        roles = {m["user"]: m["role"] for m in rec["members"]}
        assert roles == {alice.name: "admin", bob.name: "member", carol.name: "member"}, rec
        assert all(type(m["since"]) is int for m in rec["members"]), rec
        one = a.list_groups(group=g)
        assert one["op"] == "groups" and [x["group"] for x in one["groups"]] == [g], one
    # carol was offline: the event waits in her inbox.
    evs = inbox_of(server, carol)
    assert group_events(evs, g) == [("create", alice.name, members)]


def test_create_repeated_with_the_same_cid_is_dup(server):
    alice, bob = group_users(server, "alice", "bob")
    with server.connect_synced(alice, "a") as a:
        first = a.group_op("create", cid="same-create", name="G", members=[bob.name])
        again = a.group_op("create", cid="same-create", name="G", members=[bob.name])
        assert first["op"] == again["op"] == "group_ok", (first, again)
        assert again["group"] == first["group"] and again["dup"] is True, again
        assert again["changed"] is False, again
        assert len(a.list_groups()["groups"]) == 1
    evs = inbox_of(server, bob)
    assert len(group_events(evs, first["group"])) == 1, evs


def test_add_rename_remove_leave_reach_every_member_in_order(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    with online(server, alice, bob, carol) as (a, b, c):
        g = a.create_group("Start", [bob.name])
        steps = [
            ("add", dict(members=[carol.name])),
            ("rename", dict(name="Renamed")),
            ("remove", dict(members=[carol.name])),
        ]
        version = 1
        for action, fields in steps:
            ok = a.group_op(action, group=g, **fields)
            version += 1
            assert ok["op"] == "group_ok" and ok["changed"] is True, ok
            assert ok["version"] == version and ok["group"] == g, ok
        ok = b.group_op("leave", group=g)
        assert ok["op"] == "group_ok" and ok["changed"] is True, ok
        want_alice = [
            ("create", alice.name, [alice.name, bob.name]),
            ("add", alice.name, [carol.name]),
            ("rename", alice.name, []),
            ("remove", alice.name, [carol.name]),
            ("leave", bob.name, [bob.name]),
        ]
        got = [a.next_event() for _ in want_alice]
        assert [(e["action"], e["by"], e["members"]) for e in got] == want_alice, got
        assert got[2]["name"] == "Renamed", got[2]
        got_b = [b.next_event() for _ in want_alice]
        assert [(e["action"], e["by"], e["members"]) for e in got_b] == want_alice, got_b
        # carol: from her add to her removal, not the leave after it.
        got_c = [c.next_event() for _ in range(3)]
        assert [(e["action"], e["by"], e["members"]) for e in got_c] == want_alice[1:4], got_c
        c.listen(cp.QUIET)
        assert c.pending_ops("group_event") == [], list(c.pending)
        listed = a.list_groups(group=g)["groups"][0]
        assert [m["user"] for m in listed["members"]] == [alice.name], listed
        assert listed["name"] == "Renamed" and listed["version"] == 5, listed


def test_a_change_that_changes_nothing_stores_nothing(server):
    alice, bob = group_users(server, "alice", "bob")
    with server.connect_synced(alice, "a") as a:
        g = a.create_group("Same", [bob.name])
        a.next_event()
        for action, fields in (("add", dict(members=[bob.name])),
                               ("rename", dict(name="Same"))):
            ok = a.group_op(action, group=g, **fields)
            assert ok["op"] == "group_ok" and ok["changed"] is False, ok
            assert ok["version"] == 1, ok
        a.barrier()
        a.listen(cp.QUIET)
        assert a.pending_ops("group_event") == [], list(a.pending)
    assert len(group_events(inbox_of(server, bob), g)) == 1


def test_last_admin_leaving_promotes_and_last_member_deletes(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    with server.connect_synced(alice, "a") as a, server.connect_synced(bob, "b") as b:
        g = a.create_group("Relay", [carol.name, bob.name])
        ok = a.group_op("leave", group=g)
        assert ok["op"] == "group_ok" and ok["changed"] is True, ok
        b.next_event()  # create
        # bob and carol joined together: the smaller name becomes admin.
        heir = min(bob.name, carol.name)
        check_group_event(b.next_event(), g, alice.name, "leave", [alice.name, heir])
        roles = {m["user"]: m["role"] for m in b.list_groups(group=g)["groups"][0]["members"]}
        assert roles == {bob.name: "admin" if heir == bob.name else "member",
                         carol.name: "admin" if heir == carol.name else "member"}, roles
        # alice is out: she may not list it, send to it, or change it.
        err = a.list_groups(group=g)
        assert err["op"] == "error" and err["code"] == "not_member", err
    with server.connect(carol, "c") as c:
        c.until_synced()
        assert c.group_op("leave", group=g)["op"] == "group_ok"
    with server.connect(bob, "b") as b:
        b.until_synced()
        ok = b.group_op("leave", group=g)
        assert ok["op"] == "group_ok" and ok["changed"] is True and ok["version"] == 0, ok
        check_group_event(b.next_event(), g, bob.name, "leave", [bob.name])
        err = b.list_groups(group=g)
        assert err["op"] == "error" and err["code"] == "unknown_group", err
        assert b.list_groups()["groups"] == []


def test_a_reconnecting_device_sees_membership_events_in_order(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    server.befriend(bob, carol)
    with server.connect_synced(alice, "laptop") as a:
        g = a.create_group("Order", [bob.name])
        with server.connect(bob, "b") as b:
            b.until_synced()
            m1 = b.group_message(g, "one")["id"]
        ok = a.group_op("add", group=g, members=[carol.name])
        assert ok["op"] == "group_ok", ok
        with server.connect(carol, "c") as c:
            c.until_synced()
            m2 = c.group_message(g, "two")["id"]
        assert a.group_op("remove", group=g, members=[bob.name])["op"] == "group_ok"
    # alice's phone was never connected: the whole history, in order.
    with server.connect(alice, "phone", since=0) as p:
        evs, _ = p.until_synced()
    order = [(e["op"], e.get("action") or e.get("id")) for e in evs if e["op"] != "receipt"]
    assert order == [("group_event", "create"), ("msg", m1), ("group_event", "add"),
                     ("msg", m2), ("group_event", "remove")], evs
    # carol saw nothing from before she joined; bob nothing after his removal.
    carol_evs = inbox_of(server, carol)
    assert [(e["op"], e.get("action") or e.get("id")) for e in carol_evs
            if e["op"] != "receipt"] == [("group_event", "add"), ("msg", m2),
                                         ("group_event", "remove")], carol_evs
    bob_evs = inbox_of(server, bob)
    assert [(e["op"], e.get("action") or e.get("id")) for e in bob_evs
            if e["op"] != "receipt"] == [("group_event", "create"), ("msg", m1),
                                         ("group_event", "add"), ("msg", m2),
                                         ("group_event", "remove")], bob_evs


def test_group_send_reaches_every_device_of_every_member(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    conns = {}
    try:
        for user, dev in ((alice, "a1"), (alice, "a2"), (bob, "b1"), (bob, "b2"),
                          (carol, "c1")):
            conns[dev] = server.connect(user, dev)
            conns[dev].expect("synced")
        g = conns["a1"].create_group("All", [bob.name, carol.name])
        for c in conns.values():
            assert c.next_event()["op"] == "group_event"
        sent = conns["a1"].group_message(g, "to everyone")
        assert sent["op"] == "sent" and "skipped" not in sent and "dup" not in sent, sent
        for dev, c in conns.items():
            m = c.next_event()
            assert m["op"] == "msg" and m["id"] == sent["id"], (dev, m)
            assert m["from"] == alice.name and m["group"] == g, (dev, m)
            assert m["body"] == "to everyone" and m["ts"] == sent["ts"], (dev, m)
    finally:
        for c in conns.values():
            c.close()


def test_receipts_per_member_reach_the_sender_once(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    with online(server, alice, bob, carol) as (a, b, c):
        g = a.create_group("Ticks", [bob.name, carol.name])
        for x in (a, b, c):
            x.ack(x.next_event()["seq"])
        mid = a.group_message(g, "read me")["id"]
        own = a.next_event()
        assert own["op"] == "msg" and own["id"] == mid, own
        a.ack(own["seq"])  # the sender's own copy makes no receipt
        mb, mc = b.next_event(), c.next_event()
        b.ack(mb["seq"])
        r = a.next_event()
        assert (r["op"], r["id"], r["status"], r["by"]) == ("receipt", mid, "delivered",
                                                            bob.name), r
        assert "group" not in r, r
        c.ack(mc["seq"])
        c.read([mid])
        got = [a.next_event(), a.next_event()]
        assert [(e["status"], e["by"]) for e in got] == [("delivered", carol.name),
                                                         ("read", carol.name)], got
        b.read([mid])
        r = a.next_event()
        assert (r["status"], r["by"]) == ("read", bob.name), r
        # Again: nothing more.
        b.ack(mb["seq"])
        b.read([mid])
        c.read([mid])
        a.read([mid])
        b.barrier()
        c.barrier()
        a.barrier()
        a.listen(cp.QUIET)
        assert a.pending_ops("receipt") == [], list(a.pending)
    receipts = [(e["status"], e["by"]) for e in inbox_of(server, alice)
                if e["op"] == "receipt" and e["id"] == mid]
    assert sorted(receipts) == sorted([("delivered", bob.name), ("delivered", carol.name),
                                       ("read", bob.name), ("read", carol.name)])


def test_a_member_with_a_full_inbox_is_skipped(make_server):
    flag = cp.pick_flag(make_server.binary, ["--max-undelivered"], "the undelivered limit")
    s = make_server(["--rate-limit", "1000/1", flag, "2"], name="skipped")
    alice, bob, carol = group_users(s, "alice", "bob", "carol")
    with s.connect_synced(alice, "a") as a, s.connect_synced(bob, "b") as b:
        g = a.create_group("Full", [bob.name, carol.name])  # carol: 1 undelivered
        for x in (a, b):
            x.ack(x.next_event()["seq"])
        first = a.group_message(g, "fits")  # carol: 2 undelivered, full
        assert first["op"] == "sent" and "skipped" not in first, first
        second = a.group_message(g, "does not fit")
        assert second["op"] == "sent" and second["skipped"] == [carol.name], second
        got = [b.next_event(), b.next_event()]
        assert [m["id"] for m in got] == [first["id"], second["id"]], got
        own = [a.next_event(), a.next_event()]
        assert [m["id"] for m in own] == [first["id"], second["id"]], own
    evs = inbox_of(s, carol)
    assert [e["op"] for e in evs] == ["group_event", "msg"], evs
    assert evs[1]["id"] == first["id"]


def test_a_repeated_group_send_is_dup_and_stored_once(server):
    alice, bob = group_users(server, "alice", "bob")
    with server.connect_synced(alice, "a") as a:
        g = a.create_group("Dup", [bob.name])
        first = a.group_message(g, "once", cid="dup-g")
        again = a.group_message(g, "twice?", cid="dup-g")
        assert first["op"] == again["op"] == "sent", (first, again)
        assert again["dup"] is True and again["id"] == first["id"], again
        assert again["ts"] == first["ts"], again
    msgs = [e for e in inbox_of(server, bob) if e["op"] == "msg"]
    assert [(m["id"], m["body"]) for m in msgs] == [(first["id"], "once")], msgs


def test_group_error_codes(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    stranger, = server.new_users("dave")  # nobody's friend
    with online(server, alice, bob, stranger) as (a, b, d):
        g = a.create_group("Errors", [bob.name])

        def code(answer, want):
            assert answer["op"] == "error" and answer["code"] == want, answer
            assert answer["cid"] and isinstance(answer["message"], str), answer

        # unknown_group: a malformed id and one that does not exist.
        code(a.group_message("no such group!", "x"), "unknown_group")
        code(a.group_message("g" + "0" * 32, "x"), "unknown_group")
        code(a.group_op("add", group="g" + "0" * 32, members=[carol.name]), "unknown_group")
        code(a.list_groups(group="g" + "0" * 32), "unknown_group")
        # not_member: send, change and listing by someone outside.
        code(d.group_message(g, "let me in"), "not_member")
        code(d.group_op("leave", group=g), "not_member")
        code(d.list_groups(group=g), "not_member")
        # not_admin: a member adds, removes, renames.
        code(b.group_op("add", group=g, members=[alice.name]), "not_admin")
        code(b.group_op("remove", group=g, members=[alice.name]), "not_admin")
        code(b.group_op("rename", group=g, name="mine"), "not_admin")
        # Members added must be friends of the admin, and exist.
        code(a.group_op("add", group=g, members=[stranger.name]), "not_friends")
        code(a.group_op("add", group=g, members=[cp.unique_name("ghost")]), "unknown_user")
        code(a.group_op("create", name="x", members=[stranger.name]), "not_friends")
        # bad_frame: an admin removing itself, a bad action, to and group together.
        code(a.group_op("remove", group=g, members=[alice.name]), "bad_frame")
        code(a.group_op("explode", group=g), "bad_frame")
        code(a.group_op("create", name=""), "bad_frame")
        cid = a.send_msg(bob.name, "both", group=g)
        code(a.wait_op("error", cid=cid), "bad_frame")
        # None of it changed the group.
        rec = a.list_groups(group=g)["groups"][0]
        assert rec["version"] == 1 and rec["name"] == "Errors", rec
        assert [m["user"] for m in rec["members"]] == sorted([alice.name, bob.name]), rec


def test_group_full_and_too_many_groups(make_server):
    s = make_server(["--rate-limit", "1000/1", "--max-group-members", "3",
                     "--max-groups-per-user", "2"], name="glimits")
    alice, bob, carol, dave = group_users(s, "alice", "bob", "carol", "dave")
    with s.connect_synced(alice, "a") as a, s.connect_synced(bob, "b") as b:
        err = a.group_op("create", name="four", members=[bob.name, carol.name, dave.name])
        assert err["op"] == "error" and err["code"] == "group_full", err
        g = a.create_group("three", [bob.name, carol.name])
        err = a.group_op("add", group=g, members=[dave.name])
        assert err["op"] == "error" and err["code"] == "group_full", err
        a.create_group("second")
        err = a.group_op("create", name="third")
        assert err["op"] == "error" and err["code"] == "too_many_groups", err
        # bob is in one group; a second is fine, a third is too many for him.
        s.befriend(bob, dave)
        b.create_group("bob's", [dave.name])
        g2 = [x for x in a.list_groups()["groups"] if x["name"] == "second"][0]["group"]
        err = a.group_op("add", group=g2, members=[bob.name])
        assert err["op"] == "error" and err["code"] == "too_many_groups", err
        assert len(a.list_groups()["groups"]) == 2


def test_one_to_one_frames_are_unchanged_among_groups(server, pair):
    alice, bob = pair
    with server.connect_synced(alice, "a") as a, server.connect_synced(bob, "b") as b:
        a.create_group("Beside", [bob.name])
        b.next_event()
        sent = a.message(bob.name, "just us")
        assert set(sent) == {"op", "cid", "id", "ts"}, sent
        m = b.next_event()
        assert set(m) == {"op", "seq", "id", "from", "body", "ts"}, m
        b.ack(m["seq"])
        r = a.wait_for(lambda f: f["op"] == "receipt", what="receipt")
        assert set(r) == {"op", "seq", "id", "status", "by", "ts"}, r


def test_metrics_count_group_sends_and_changes(make_server):
    s = make_server(["--rate-limit", "1000/1"], name="gmetrics")
    alice, bob = group_users(s, "alice", "bob")

    def metric(name):
        text = s.admin_http("GET", "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics")

    assert metric("courier_group_sends_total") == 0
    with s.connect_synced(alice, "a") as a:
        g = a.create_group("M", [bob.name])
        a.group_op("rename", group=g, name="M")  # changes nothing
        a.group_op("rename", group=g, name="N")
        a.group_message(g, "1", cid="m1")
        a.group_message(g, "1", cid="m1")  # duplicate
        a.group_message(g, "2")
    assert metric("courier_group_sends_total") == 2
    assert metric("courier_group_changes_total") == 2
    for name in ("courier_typing_relayed_total", "courier_typing_dropped_total"):
        metric(name)


def test_deleting_an_account_leaves_its_groups(server):
    alice, bob, carol = group_users(server, "alice", "bob", "carol")
    with server.connect_synced(alice, "a") as a:
        g = a.create_group("Leavers", [bob.name, carol.name])
        a.next_event()
        r = server.admin_http("DELETE", f"/admin/v1/users/{bob.name}?inbox=delete")
        assert r.status == 200, r
        check_group_event(a.next_event(), g, bob.name, "leave", [bob.name])
        rec = a.list_groups(group=g)["groups"][0]
        assert sorted(m["user"] for m in rec["members"]) == sorted([alice.name, carol.name])
