"""docs/PROTOCOL.md, presence: friends' states right after welcome, then each
change (connect, disconnect with last_seen), to friends only."""

import courier_proto as cp


def presence_after_welcome(c):
    """The presence frames that directly follow welcome (before any other op).

    A repeat of the same state for the same friend is dropped: a change that
    happened just before this connection may be announced once more (the
    engine's change notice can race with the list of states), and presence
    is state, not an event, so a repeat tells a client nothing new.
    """
    out = []
    while True:
        f = c.take(skip=())
        if f["op"] != "presence":
            c.pending.appendleft(f)
            return out
        if f not in out:
            out.append(f)


def check_presence(p, user, online):
    assert p["op"] == "presence", p
    assert p["user"] == user, p
    assert p["online"] is online, p
    assert "last_seen" in p, p
    assert p["last_seen"] is None or type(p["last_seen"]) is int, p


def wait_presence(c, user, online, timeout=cp.RECV_TIMEOUT):
    return c.wait_for(lambda f: f["op"] == "presence" and f["user"] == user and
                      f["online"] is online, timeout=timeout,
                      what=f"presence {user} online={online}")


def watching(server, user):
    """A connection of `user` past welcome and its friends' presence states,
    ready to hear presence changes."""
    c = server.connect(user, "a")
    presence_after_welcome(c)
    return c


def connect_seen_online(server, watcher, user, device):
    """Connects `user`'s `device` and waits until `watcher` hears that `user`
    is online."""
    c = server.connect(user, device)
    wait_presence(watcher, user.name, True)
    return c


def presence_heard(c):
    """Every presence frame `c` holds once the server had QUIET seconds to
    send more (for "no such presence comes" checks)."""
    c.listen(cp.QUIET)
    c.barrier()
    return c.pending_ops("presence")


def test_all_friends_states_right_after_welcome(server):
    me, online, never, gone, stranger = server.new_users("me", "on", "never", "gone",
                                                         "stranger")
    for f in (online, never, gone):
        server.befriend(me, f)
    server.befriend(online, gone)  # online watches gone come and go
    with server.connect_synced(online, "o") as o, server.connect_synced(stranger, "s"):
        with server.connect(gone, "g"):
            wait_presence(o, gone.name, True)
        wait_presence(o, gone.name, False)
        with server.connect(me, "m") as m:
            ps = presence_after_welcome(m)
            by_user = {p["user"]: p for p in ps}
            assert sorted(by_user) == sorted([online.name, never.name, gone.name]), ps
            assert len(ps) == 3, f"one presence per friend: {ps}"
            check_presence(by_user[online.name], online.name, True)
            check_presence(by_user[never.name], never.name, False)
            assert by_user[never.name]["last_seen"] is None
            check_presence(by_user[gone.name], gone.name, False)
            assert type(by_user[gone.name]["last_seen"]) is int
            m.expect("synced")


def test_changes_on_connect_and_disconnect_with_last_seen(server, pair):
    alice, bob = pair
    with server.connect(alice, "a") as a:
        first = presence_after_welcome(a)
        assert len(first) == 1
        check_presence(first[0], bob.name, False)
        b = server.connect(bob, "b")
        check_presence(wait_presence(a, bob.name, True), bob.name, True)
        # bob sees alice online right after his welcome.
        ps = presence_after_welcome(b)
        assert [(p["user"], p["online"]) for p in ps] == [(alice.name, True)]
        before = cp.now_ms()
        b.close()
        p = wait_presence(a, bob.name, False)
        after = cp.now_ms()
        check_presence(p, bob.name, False)
        assert p["last_seen"] is not None
        assert before - 5000 <= p["last_seen"] <= after + 5000, (before, p, after)
    # alice's last_seen reaches bob when he connects later.
    with server.connect(bob, "b") as b:
        ps = presence_after_welcome(b)
        assert len(ps) == 1
        check_presence(ps[0], alice.name, False)
        assert type(ps[0]["last_seen"]) is int


def test_online_while_any_device_is_connected(server, pair):
    alice, bob = pair
    with watching(server, alice) as a:
        phone = connect_seen_online(server, a, bob, "phone")
        laptop = server.connect_synced(bob, "laptop")
        phone.close()
        offline = [f for f in presence_heard(a) if not f["online"]]
        assert offline == [], f"bob still has a device connected: {offline}"
        laptop.close()
        wait_presence(a, bob.name, False)


def test_presence_goes_to_friends_only(server, pair):
    alice, bob = pair
    carol = server.new_user("carol")  # bob's friend, not alice's
    server.befriend(carol, bob)
    with server.connect(alice, "a") as a, server.connect(carol, "c") as c:
        assert [p["user"] for p in presence_after_welcome(a)] == [bob.name]
        assert [p["user"] for p in presence_after_welcome(c)] == [bob.name]
        with server.connect(bob, "b") as b:
            wait_presence(a, bob.name, True)
            wait_presence(c, bob.name, True)
            ps = presence_after_welcome(b)
            assert sorted(p["user"] for p in ps) == sorted([alice.name, carol.name])
        wait_presence(a, bob.name, False)
        wait_presence(c, bob.name, False)
        # carol comes and goes: alice, no friend of carol's, hears nothing.
        server.connect_synced(carol, "c2").close()
        leaked = [f for f in presence_heard(a) if f["user"] != bob.name]
        assert leaked == [], f"presence of a non-friend: {leaked}"


def test_replacing_a_device_keeps_the_user_online(server, pair):
    alice, bob = pair
    with watching(server, alice) as a:
        old = connect_seen_online(server, a, bob, "tablet")
        new = server.connect(bob, "tablet")
        assert old.expect_close() == 4409
        old.close()
        new.expect("synced")
        offline = [f for f in presence_heard(a) if not f["online"]]
        assert offline == [], f"bob's device was replaced, not gone: {offline}"
        # A friend who connects now sees bob online.
        with server.connect(alice, "a2") as a2:
            ps = presence_after_welcome(a2)
            assert [(p["user"], p["online"]) for p in ps] == [(bob.name, True)], ps
        new.close()
        wait_presence(a, bob.name, False)
