"""docs/PROTOCOL.md, running the server: port 0, SIGTERM/SIGINT (1001, exit 0),
restart on the same data dir, flags from COURIER_<FLAG> variables, the
default store (RocksDB in the data dir) and the refusal of a data dir that
holds a store of another kind."""

import http.client
import signal
import subprocess

import pytest

import courier_proto as cp


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_connections_with_1001_and_exits_0(make_server, sig):
    s = make_server(name="sig")
    assert s.port != 0
    u = s.new_user("sig")
    c = s.connect_synced(u, "d")
    s.send_signal(sig)
    assert c.expect_close(timeout=30) == 1001
    c.close()
    assert s.wait() == 0, s.log_tail()


def test_restart_on_the_same_data_dir_keeps_everything(make_server):
    s1 = make_server(name="restart")
    alice, bob = s1.new_users("alice", "bob")
    s1.befriend(alice, bob)
    with s1.connect_synced(alice, "a") as a:
        sent = [a.message(bob.name, f"before {i}", cid=f"cid-{i}") for i in range(3)]
        assert all(x["op"] == "sent" for x in sent), sent
    ids = [x["id"] for x in sent]
    with s1.connect(bob, "phone") as b:
        evs, _ = b.until_synced()
        assert [e["id"] for e in evs] == ids
        b.ack(1)
        b.read([ids[0]])
        b.barrier()
    # The last message is acknowledged as sent just before the signal: it
    # must survive (sent means stored).
    with s1.connect(alice, "a") as a:
        a.until_synced()
        last = a.message(bob.name, "just before stop", cid="cid-last")
        assert last["op"] == "sent"
        s1.send_signal(signal.SIGTERM)
        assert a.expect_close(timeout=30) == 1001
    assert s1.wait() == 0, s1.log_tail()

    s2 = make_server(data_dir=s1.data_dir)
    # Accounts: the passwords still work, a wrong one still does not.
    assert s2.login(alice.name).status == 200
    assert s2.login(bob.name, "wrong password").status == 401
    assert s2.register(alice.name).status == 409
    # The token key lives in the data dir: tokens from before still work.
    assert s2.friends(alice) == [bob.name]
    assert s2.friends(bob) == [alice.name]
    with s2.connect(bob, "phone") as b:
        # Presence: alice's last seen was stored.
        # Cursor: phone had acked 1 of 4.
        assert b.welcome["cursor"] == 1 and b.welcome["head"] == 4, b.welcome
        evs, synced = b.until_synced()
        assert [e["seq"] for e in evs] == [2, 3, 4]
        assert [e["body"] for e in evs] == ["before 1", "before 2", "just before stop"]
        assert synced["seq"] == 4
        ps = b.pending_ops("presence")
        assert len(ps) == 1 and ps[0]["user"] == alice.name, ps
        assert ps[0]["online"] is False and type(ps[0]["last_seen"]) is int, ps
        b.ack(4)
        b.barrier()
    with s2.connect(alice, "a") as a:
        # Receipts from before the restart, and the one the ack just made.
        evs, _ = a.until_synced()
        got = [(e["id"], e["status"]) for e in evs]
        assert got[:2] == [(ids[0], "delivered"), (ids[0], "read")], got
        assert sorted(got[2:]) == sorted([(ids[1], "delivered"), (ids[2], "delivered"),
                                          (last["id"], "delivered")]), got
        # Idempotency keys survived: the old cid answers the old id.
        dup = a.message(bob.name, "before 0", cid="cid-0")
        assert dup.get("dup") is True and dup["id"] == ids[0], dup
        # New messages continue the inbox's seq.
        new = a.message(bob.name, "after restart")
        assert new["op"] == "sent" and new["id"] not in ids
    with s2.connect(bob, "phone") as b:
        assert b.welcome["cursor"] == 4 and b.welcome["head"] == 5
        m = b.next_event()
        assert m["seq"] == 5 and m["body"] == "after restart"


def test_flags_can_come_from_courier_environment_variables(make_server):
    s = make_server(env={"COURIER_RATE_LIMIT": "2/600"}, name="env")
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    with s.connect_synced(alice, "a") as a:
        assert a.message(bob.name, "1")["op"] == "sent"
        assert a.message(bob.name, "2")["op"] == "sent"
        err = a.message(bob.name, "3")
        assert err["op"] == "error" and err["code"] == "rate_limited", err


def test_given_key_files_are_used(make_server, tmp_path):
    jwt_key = tmp_path / "jwt.key"
    storage_key = tmp_path / "storage.key"
    jwt_key.write_bytes(bytes(range(48)))
    storage_key.write_bytes(bytes(range(100, 132)))
    s = make_server(["--jwt-secret-file", str(jwt_key),
                     "--storage-key-file", str(storage_key)], name="keys")
    u = s.new_user("k")
    # The token is signed with the given key.
    assert cp.jwt_verify(jwt_key.read_bytes(), u.token), u.token
    # A short key file is refused at start.
    short = tmp_path / "short.key"
    short.write_bytes(b"too short")
    with pytest.raises(AssertionError):
        make_server(["--jwt-secret-file", str(short)], name="shortkey")


def test_tls_serves_https_and_wss(make_server, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    # Debian's openssl command makes a certificate for 127.0.0.1.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    s = make_server(["--tls-cert", str(cert), "--tls-key", str(key)], name="tls")
    s.tls_ca = cert  # verified: the chain and the address
    assert s.http("GET", "/healthz").status == 200
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    big = "é" * 30000 + "end"  # 60 KB: many TLS records, read in 16 KiB chunks
    with s.connect_synced(alice, "a") as a:
        assert a.message(bob.name, "over tls")["op"] == "sent"
        assert a.message(bob.name, big)["op"] == "sent"
        assert a.message(bob.name, "small again")["op"] == "sent"
    with s.connect(bob, "b") as b:
        assert b.next_event()["body"] == "over tls"
        assert b.next_event()["body"] == big
        assert b.next_event()["body"] == "small again"
    # Plain text on the TLS port gets no page.
    plain = cp.Server(s.binary, s.data_dir)
    plain.host, plain.port = s.host, s.port
    try:
        r = plain.http("GET", "/healthz")
        assert r.status != 200, r
    except (OSError, http.client.HTTPException):
        pass
    # Half a pair is refused at start.
    with pytest.raises(AssertionError):
        make_server(["--tls-cert", str(cert)], name="halftls")


def test_sent_survives_a_killed_server(make_server):
    """`sent` means stored: a server killed right after answering loses nothing."""
    s1 = make_server(name="kill")
    alice, bob = s1.new_users("alice", "bob")
    s1.befriend(alice, bob)
    with s1.connect_synced(alice, "a") as a:
        ids = [f["id"] for f in a.send_many(bob.name, [f"k{i}" for i in range(20)])]
        s1.kill()  # SIGKILL: no flush, no goodbye
    s2 = make_server(data_dir=s1.data_dir)
    with s2.connect(bob, "b") as b:
        evs, synced = b.until_synced()
        assert [e["id"] for e in evs] == ids
        assert [e["body"] for e in evs] == [f"k{i}" for i in range(20)]


def assert_refused_naming(binary, data_dir, args, message):
    """courier-server on `data_dir` with `args` refuses to start: exit 2 (a
    configuration error), saying `message` on stderr."""
    r = subprocess.run([binary, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                        "--data-dir", str(data_dir), *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr, r.stderr


def assert_opens_with(make_server, data_dir, args, user):
    """A server on `data_dir` with `args` knows `user`, and stops cleanly."""
    s = make_server(args, data_dir=data_dir)
    assert s.login(user.name).status == 200
    assert s.stop() == 0


def test_the_default_store_is_rocksdb_in_the_data_dir(make_server, server_binary):
    s1 = make_server(name="default")
    alice = s1.new_user("alice")
    assert s1.stop() == 0
    data = s1.data_dir
    assert (data / "rocksdb" / "CURRENT").is_file(), sorted(p.name for p in data.iterdir())
    assert not (data / "courier.db").exists()
    assert f'store="rocksdb:{data}/rocksdb durability=power"' in s1.log_tail(200)
    # Asking for a new SQLite store beside it is refused, naming the flag that
    # opens the store the data dir holds; nothing new is made.
    assert_refused_naming(server_binary, data, ["--store", f"sqlite:{data}/courier.db"],
                          f"data dir {data} holds a RocksDB store (rocksdb); start with "
                          f"--store rocksdb:{data}/rocksdb to use it")
    assert not (data / "courier.db").exists()
    # That flag, and the default, open it.
    assert_opens_with(make_server, data, ["--store", f"rocksdb:{data}/rocksdb"], alice)
    assert_opens_with(make_server, data, [], alice)


def test_a_data_dir_with_a_sqlite_store_needs_its_store_flag(make_server, server_binary,
                                                             tmp_path):
    data = tmp_path / "data"
    db = data / "courier.db"
    s1 = make_server(["--store", f"sqlite:{db}"], data_dir=data, name="sqlite")
    alice = s1.new_user("alice")
    assert s1.stop() == 0
    # The default (RocksDB) would be a new, empty store: refused, exit 2.
    assert_refused_naming(server_binary, data, [],
                          f"data dir {data} holds a SQLite store (courier.db); start with "
                          f"--store sqlite:{db} to use it")
    assert not (data / "rocksdb").exists()
    # With the flag it names, the users are all there.
    assert_opens_with(make_server, data, ["--store", f"sqlite:{db}"], alice)
