"""--store memory: the server says it is not durable, and a restart loses everything.

The in-memory store exists for benchmarks of the network path (courier-load
--store memory); this test documents what it gives up.
"""

import courier_proto as cp


def test_memory_store_is_not_durable(make_server, jwt_secret):
    args = ["--store", "memory", "--jwt-secret-file", str(jwt_secret[0])]
    s = make_server(args, name="memory")
    s.token_key = jwt_secret[1]
    assert "NOT durable" in s.log_tail(), s.log_tail()
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    a = s.connect(alice)
    assert a.message(bob.name, "lost on restart")["op"] == "sent"
    assert s.stop() == 0

    # Same data dir, same token key: bob's token still verifies, but his
    # queued message and both accounts are gone, and a token of an account
    # the store does not have is refused (the hello, which does not wait for
    # the store, may pass; the check right after it closes the session).
    s2 = make_server(args, data_dir=s.data_dir, name="memory")
    b = s2.ws()
    b.hello(bob.token, "dev")
    assert b.expect_close() == 4401
    welcome = [f for f in b.pending if f["op"] == "welcome"]
    assert all(w["head"] == 0 for w in welcome), welcome
    assert not [f for f in b.pending if f["op"] == "msg"], list(b.pending)
    b.close()
    assert s2.http("GET", "/v1/friends", token=bob.token).status == 401
    assert s2.login(alice.name, cp.PASSWORD).status == 401
