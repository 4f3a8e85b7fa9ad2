"""The admin address (--admin-listen): /metrics in base units, the admin API
(docs/PROTOCOL.md "Admin API"), SIGHUP reloading the TLS certificate, and
--log-format json. Every test runs its own server: they disable, delete and
disconnect users."""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

import courier_proto as cp


def prometheus(text):
    """{name: [(labels, value)]} of the sample lines."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        assert m, f"not a Prometheus sample line: {line!r}"
        out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def devices_of(s, user):
    r = s.admin_http("GET", f"/admin/v1/users/{user.name}/devices")
    assert r.status == 200, r
    return r.json()


# -- metrics


def test_metrics_are_in_base_units_with_process_and_build_info(make_server):
    s = make_server(name="metrics")
    r = s.admin_http("GET", "/metrics", token="")  # no token needed for /metrics
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    m = prometheus(r.text)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds",
                 "courier_commit_latency_seconds_total", "courier_send_latency_seconds_count",
                 "courier_bytes_in_total", "courier_presence_heartbeat_errors_total",
                 "courier_prune_errors_total", "courier_signal_errors_total",
                 "courier_presence_errors_total", "courier_last_seen_errors_total"):
        assert name in m, f"{name} missing from {sorted(m)}"
    assert m["process_resident_memory_bytes"][0][1] > 1 << 20
    assert abs(m["process_start_time_seconds"][0][1] - time.time()) < 3600
    labels, value = m["courier_build_info"][0]
    assert value == 1
    assert re.fullmatch(r'\{version="\d+\.\d+\.\d+",commit="[^"]+"\}', labels), labels
    # Base units only: no milli/microseconds, no kilobytes.
    assert not [n for n in m if re.search(r"_(milli|micro)seconds|_kb|_kib|_ms$", n)], sorted(m)
    # Every counter ends in _total (histogram parts aside).
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", r.text, re.M))
    assert [n for n, t in types.items() if t == "counter" and not n.endswith("_total")] == []
    # The public port keeps /healthz only.
    assert s.http("GET", "/metrics").status == 404
    assert s.http("GET", "/healthz").status == 200
    assert s.admin_http("GET", "/healthz", token="").status == 200


def test_admin_port_zero_is_printed_and_loopback_by_default(make_server):
    s = make_server(name="adminport")
    assert s.admin_port and s.admin_port != s.port
    line = [l for l in s.stdout_lines if l.startswith("admin on ")]
    assert line == [f"admin on 127.0.0.1:{s.admin_port}"], s.stdout_lines


# -- the admin API


def test_create_user_works_with_registration_closed(make_server):
    s = make_server(["--registration", "closed"], name="closed")
    assert s.register(cp.unique_name("x")).status == 403
    name = cp.unique_name("made")
    r = s.admin_http("POST", "/admin/v1/users", {"user": name, "password": cp.PASSWORD})
    assert r.status == 201 and r.json() == {"user": name}, r
    assert s.login(name).status == 200
    r = s.admin_http("POST", "/admin/v1/users", {"user": name, "password": cp.PASSWORD})
    assert r.status == 409, r
    for bad in ({"user": "a b", "password": cp.PASSWORD}, {"user": "ok", "password": "short"},
                {"user": 1}, []):
        assert s.admin_http("POST", "/admin/v1/users", bad).status == 400, bad


def test_devices_are_listed_with_last_seen_and_online(make_server):
    s = make_server(name="devices")
    alice, bob = s.new_users("alice", "bob")
    assert devices_of(s, alice) == {"user": alice.name, "disabled": False, "devices": []}
    before = int(time.time() * 1000)
    with s.connect(alice, "phone"):
        with s.connect(alice, "laptop"):
            doc = devices_of(s, alice)
            assert [(d["device"], d["online"]) for d in doc["devices"]] == \
                [("laptop", True), ("phone", True)]
    # Both closed: recorded (asynchronously) and offline, last seen at their end.
    def offline():
        d = devices_of(s, alice)["devices"]
        return len(d) == 2 and not any(x["online"] for x in d)
    wait_until(offline, what="devices offline")
    for d in devices_of(s, alice)["devices"]:
        assert before <= d["last_seen"] <= int(time.time() * 1000) + 1000, d
    assert s.admin_http("GET", "/admin/v1/users/nobody-here/devices").status == 404
    assert s.admin_http("GET", "/admin/v1/users/bad%20name/devices").status == 400


def test_disconnect_closes_one_device_with_4410(make_server):
    s = make_server(name="disconnect")
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    with s.connect(alice, "phone") as phone, s.connect(alice, "laptop") as laptop:
        r = s.admin_http("POST", f"/admin/v1/users/{alice.name}/devices/phone/disconnect")
        assert r.status == 200, r
        assert r.json() == {"user": alice.name, "device": "phone", "closed": 1}
        assert phone.expect_close() == 4410
        laptop.send({"op": "ping"})
        laptop.wait_for(lambda f: f.get("op") == "pong", what="pong")  # the other device stays
    # The device may come back (a disconnect is not a ban).
    with s.connect(alice, "phone") as again:
        assert again.message(bob.name, "back")["op"] == "sent"
    r = s.admin_http("POST", f"/admin/v1/users/{alice.name}/devices/none/disconnect")
    assert r.status == 200 and r.json()["closed"] == 0, r
    assert s.admin_http("GET", f"/admin/v1/users/{alice.name}/devices/phone/disconnect"
                        ).status == 405


def test_disable_closes_sessions_refuses_login_and_hello_then_enable(make_server):
    s = make_server(name="disable")
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    c = s.connect(alice, "phone")
    r = s.admin_http("POST", f"/admin/v1/users/{alice.name}/disable")
    assert r.status == 200, r
    assert r.json() == {"user": alice.name, "disabled": True, "closed": 1}
    assert c.expect_close() == 4403
    c.close()
    assert devices_of(s, alice)["disabled"] is True
    r = s.login(alice.name)
    assert r.status == 403 and r.json()["error"] == "account_disabled", r
    # The old token is revoked: hello fails (4401), HTTP answers 401.
    h = s.ws()
    h.hello(alice.token, "phone")
    assert h.expect_close() == 4401
    h.close()
    assert s.http("GET", "/v1/friends", token=alice.token).status == 401
    # Others are untouched.
    with s.connect(bob, "b") as b:
        b.send({"op": "ping"})
        b.wait_for(lambda f: f.get("op") == "pong", what="pong")
    r = s.admin_http("POST", f"/admin/v1/users/{alice.name}/enable")
    assert r.status == 200 and r.json() == {"user": alice.name, "disabled": False}, r
    r = s.login(alice.name)
    assert r.status == 200, r
    with s.connect(alice, "phone", token=r.json()["token"]) as again:
        assert again.message(bob.name, "enabled")["op"] == "sent"
    assert s.admin_http("POST", "/admin/v1/users/nobody-here/disable").status == 404


def test_delete_user_says_what_happened_to_the_inbox(make_server):
    s = make_server(name="delete")
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    c = s.connect(alice, "phone")
    # The inbox flag is required.
    for q in ("", "?inbox=", "?inbox=keep"):
        r = s.admin_http("DELETE", f"/admin/v1/users/{alice.name}{q}")
        assert r.status == 400, (q, r)
    r = s.admin_http("DELETE", f"/admin/v1/users/{alice.name}?inbox=retain")
    assert r.status == 200, r
    assert r.json() == {"user": alice.name, "deleted": True, "inbox": "retained", "closed": 1}
    assert c.expect_close() == 4403
    c.close()
    assert s.login(alice.name).status == 401
    assert s.friends(bob) == []
    assert s.admin_http("GET", f"/admin/v1/users/{alice.name}/devices").status == 404
    assert s.admin_http("DELETE", f"/admin/v1/users/{alice.name}?inbox=retain").status == 404
    # The name can be registered again.
    assert s.register(alice.name).status == 201


def test_delete_with_inbox_delete_removes_the_inbox_and_only_it(make_server):
    s = make_server(name="delete-inbox")
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    with s.connect(bob, "b1") as b:
        m1 = b.message(alice.name, "one")
        b.message(alice.name, "two")
    phone = s.connect(alice, "phone")
    evs, _ = phone.until_synced()
    assert [e["body"] for e in evs] == ["one", "two"], evs
    phone.ack(evs[0]["seq"])  # m1 delivered: bob's inbox gets the receipt
    a1 = phone.message(bob.name, "from alice")
    # alice's inbox holds m1 and m2 (bob has acked nothing: no receipt there).
    r = s.admin_http("DELETE", f"/admin/v1/users/{alice.name}?inbox=delete")
    assert r.status == 200, r
    assert r.json() == {"user": alice.name, "deleted": True, "inbox": "deleted",
                        "events_deleted": 2, "closed": 1}, r
    assert phone.expect_close() == 4403
    phone.close()
    # No way back in: no login, the old token's hello is refused.
    assert s.login(alice.name).status == 401
    h = s.ws()
    h.hello(alice.token, "phone")
    assert h.expect_close() == 4401
    h.close()
    assert s.admin_http("GET", f"/admin/v1/users/{alice.name}/devices").status == 404
    # bob's inbox is his: alice's receipt and alice's message stay.
    with s.connect(bob, "b2", since=0) as b:
        evs, _ = b.until_synced()
        kinds = [(e["op"], e.get("id")) for e in evs]
        assert ("receipt", m1["id"]) in kinds, evs
        assert ("msg", a1["id"]) in kinds, evs
    # Deleting again: the user is gone.
    assert s.admin_http("DELETE", f"/admin/v1/users/{alice.name}?inbox=delete").status == 404
    # The name can be taken again, and its new owner finds an empty inbox
    # (checked on a restarted server, which knows nothing of the old account;
    # test_a_deleted_accounts_tokens_are_refused_for_the_new_account_of_its_name
    # covers the same server).
    assert s.register(alice.name).status == 201
    assert s.stop() == 0
    s = make_server(data_dir=s.data_dir, name="delete-inbox-again")
    r = s.login(alice.name)
    assert r.status == 200, r
    with s.connect(alice, "phone", token=r.json()["token"]) as again:
        assert again.welcome["head"] == 0 and again.welcome["cursor"] == 0, again.welcome
        evs, _ = again.until_synced()
        assert evs == [], evs


def test_a_deleted_accounts_tokens_are_refused_for_the_new_account_of_its_name(make_server):
    """Deleting an account and registering its name again makes a new account:
    a token of the old one is refused (HTTP 401, hello 4401), on this server
    and on a restarted one that remembers nothing of the old account (as
    another node of a cluster), and the new account's own tokens work on both.
    So are the tokens of a deleted account whose name nobody took again.
    (1312b6c: the new account started again at token generation 0, so the old
    account's first tokens were valid for it; this server, remembering the old
    account's later generation, refused the new account's tokens; and a
    deleted account's tokens counted as valid on a server that had not seen
    the account.)"""

    def refused(s, token):
        # On a server that has not seen the name's token state yet, the hello
        # (which never waits for the store) may pass, and the check right
        # after it closes the session: 4401 either way.
        h = s.ws()
        h.hello(token, "phone")
        assert h.expect_close() == 4401
        h.close()
        assert s.http("GET", "/v1/friends", token=token).status == 401

    def works(s, user, token):
        r = s.http("GET", "/v1/friends", token=token)
        assert r.status == 200 and r.json()["friends"] == [], r
        with s.connect(user, "phone", token=token) as c:
            c.send({"op": "ping"})
            c.wait_for(lambda f: f.get("op") == "pong", what="pong")

    s = make_server(name="reregister")
    alice, bob, carol = s.new_users("alice", "bob", "carol")
    s.befriend(alice, bob)
    r = s.login(alice.name)
    assert r.status == 200, r
    old = r.json()["token"]
    for user in (alice, carol):
        r = s.admin_http("DELETE", f"/admin/v1/users/{user.name}?inbox=retain")
        assert r.status == 200, r
    for token in (old, alice.token, carol.token):
        refused(s, token)
    assert s.register(alice.name, "another password").status == 201
    for token in (old, alice.token):
        refused(s, token)
    r = s.login(alice.name, "another password")
    assert r.status == 200, r
    new = r.json()["token"]
    works(s, alice, new)

    assert s.stop() == 0
    s = make_server(data_dir=s.data_dir, name="reregister-again")
    for token in (old, alice.token, carol.token):
        refused(s, token)
    works(s, alice, new)


# -- SIGHUP: the TLS certificate and key


def make_cert(tmp_path, name, cn):
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return key, cert


def served_cn(port):
    """The CN of the certificate the server presents to a new handshake."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                          input=der, capture_output=True, check=True, timeout=30).stdout
    return re.search(rb"CN\s*=\s*(\S+)", text).group(1).decode()


def test_sighup_reloads_the_tls_certificate_without_dropping_connections(make_server,
                                                                         tmp_path):
    key1, cert1 = make_cert(tmp_path, "one", "courier-one")
    key2, cert2 = make_cert(tmp_path, "two", "courier-two")
    live_key, live_cert = tmp_path / "live.key", tmp_path / "live.pem"
    live_key.write_bytes(key1.read_bytes())
    live_cert.write_bytes(cert1.read_bytes())
    s = make_server(["--tls-cert", str(live_cert), "--tls-key", str(live_key)], name="hup")
    s.tls_ca = cert1
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    assert served_cn(s.port) == "courier-one"
    a = s.connect(alice, "a")  # a WSS connection made with the first certificate

    live_key.write_bytes(key2.read_bytes())
    live_cert.write_bytes(cert2.read_bytes())
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: served_cn(s.port) == "courier-two", what="the new certificate")
    # The open connection goes on.
    assert a.message(bob.name, "still here")["op"] == "sent"
    # New handshakes verify against the new certificate.
    s.tls_ca = cert2
    with s.connect(bob, "b") as b:
        assert b.next_event()["body"] == "still here"

    # A bad pair (key of the first, certificate of the second) keeps the old one.
    live_key.write_bytes(key1.read_bytes())
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: "tls_reload_failed" in s.log_tail(), what="the reload error in the log")
    assert served_cn(s.port) == "courier-two"
    live_cert.write_text("not a certificate")
    s.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert served_cn(s.port) == "courier-two"
    assert a.message(bob.name, "after the bad reloads")["op"] == "sent"
    a.close()


def test_sighup_without_tls_changes_nothing(make_server):
    s = make_server(name="hup-plain")
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=sighup" in s.log_tail(), what="the sighup log line")
    assert s.http("GET", "/healthz").status == 200


# -- --log-format json


def test_stale_mongoc_counter_file_keeps_stderr_clean(server_binary):
    # Reproducer (CI of c8bc4d4): libmongoc initializes itself before main and
    # exports counters in /dev/shm/mongoc-PID; a file left by a killed process
    # with the same PID made it print a warning to stderr, which broke the
    # JSON logs' one object per line. The servers the tests start run with
    # MONGOC_DISABLE_SHM=1 (tests/pylib/courier_server.py); with it, a stale
    # file for the server's own PID changes nothing on stderr. `exec` keeps the
    # PID of the shell that made the file.
    script = 'touch /dev/shm/mongoc-$$; exec "$0" --version'
    env = dict(os.environ, MONGOC_DISABLE_SHM="1")
    proc = subprocess.Popen(["sh", "-c", script, server_binary], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        stale = f"/dev/shm/mongoc-{proc.pid}"
        if os.path.exists(stale):
            os.unlink(stale)
    assert proc.returncode == 0, stderr
    assert stdout.startswith("courier-server ")
    assert stderr == ""


def test_json_logs_are_one_object_per_line(make_server):
    s = make_server(["--log-format", "json", "--log-level", "debug"], name="json")
    s.http("GET", "/healthz")
    s.admin_http("GET", "/admin/v1/users/x/devices", token="wrong-token-wrong-token")
    code = s.stop(signal.SIGTERM)
    assert code == 0
    lines = [l for l in s.log_path.read_text().splitlines() if l and not l.startswith("===")]
    assert lines
    docs = [json.loads(l) for l in lines]  # every line is one JSON object
    for d in docs:
        assert set(d) == {"time", "level", "message", "fields"}, d
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["time"]), d
    started = [d for d in docs if d["message"] == "started"]
    assert started and started[0]["level"] == "info"
    assert started[0]["fields"]["listen"] == f"127.0.0.1:{s.port}"
    assert any(d["message"] == "admin_unauthorized" and d["level"] == "warning" for d in docs)
