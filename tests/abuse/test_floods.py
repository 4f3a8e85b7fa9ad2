"""Floods: past the rate limit, slowloris, thousands of connections."""

import resource
import socket
import time

from conftest import fd_count, is_op, wait_for


def test_flood_past_the_rate_limit(make_server):
    s = make_server("--rate-limit", "5/3600")
    a, b = s.user(), s.user()
    s.befriend(a, b)
    c, _ = s.session(a)
    for i in range(40):
        c.send_json({"op": "send", "cid": f"f{i}", "to": b[0], "body": f"flood {i}"})
    answers = {}
    deadline = time.monotonic() + 30
    while len(answers) < 40 and time.monotonic() < deadline:
        m, _ = c.recv_until(lambda m: is_op("sent")(m) or is_op("error")(m), timeout=5)
        if m is not None:
            answers[m["cid"]] = m
    assert len(answers) == 40
    sent = [m for m in answers.values() if m["op"] == "sent"]
    limited = [m for m in answers.values() if m["op"] == "error"]
    assert len(sent) == 5
    assert all(m["code"] == "rate_limited" and m["retry_after_ms"] > 0 for m in limited)
    # The connection stays open and the recipient has exactly the 5.
    c.send_json({"op": "ping"})
    assert c.recv_until(lambda m: m == {"op": "pong"})[0] is not None
    cb, w = s.session(b)
    assert w["head"] == 5
    c.close()
    cb.close()


def test_frame_flood_on_one_connection(srv):
    """Thousands of pings and bad frames back to back: all answered, in order."""
    a = srv.user()
    c, _ = srv.session(a)
    n = 3000
    for i in range(n):
        c.send_text('{"op":"ping"}' if i % 2 else "{bad")
    pongs = errs = 0
    deadline = time.monotonic() + 120
    while pongs < n // 2 and time.monotonic() < deadline and not c.closed:
        for m in c.poll():
            if m == {"op": "pong"}:
                pongs += 1
            elif is_op("error")(m):
                errs += 1
        time.sleep(0.01)
    assert (pongs, errs) == (n // 2, n // 2)
    c.close()


def test_slowloris_is_dropped_and_others_are_served(make_server):
    """Headers dribbled a byte a second: the server drops the connection after
    its HTTP timeout (30 s) and serves a normal client all along."""
    s = make_server()
    dribblers = []
    for _ in range(20):
        d = socket.create_connection((s.host, s.port), timeout=5)
        d.setblocking(False)
        dribblers.append(d)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    dropped_at = {}
    served = 0
    i = 0
    while time.monotonic() - started < 60 and len(dropped_at) < len(dribblers):
        for k, d in enumerate(dribblers):
            if k in dropped_at:
                continue
            try:
                d.send(request[i % len(request):i % len(request) + 1])
                data = d.recv(4096)
                if data == b"" or data:
                    dropped_at[k] = time.monotonic() - started
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                dropped_at[k] = time.monotonic() - started
        i += 1
        if i % 5 == 0:
            st, _, _ = s.http("GET", "/healthz", timeout=10)
            assert st == 200
            served += 1
        time.sleep(1)
    for d in dribblers:
        d.close()
    assert len(dropped_at) == len(dribblers), f"still open after 60 s: {dropped_at}"
    assert min(dropped_at.values()) >= 20, dropped_at   # not before its timeout
    assert served >= 4
    print(f"slowloris: 20 dribbling connections dropped after "
          f"{min(dropped_at.values()):.0f}-{max(dropped_at.values()):.0f} s; "
          f"{served} health checks answered meanwhile")
    assert s.healthy_roundtrip()


def test_thousands_of_connections_from_one_client(make_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 3000
    if soft < want + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want + 500), hard))
    s = make_server("--hello-timeout-ms", "120000")
    a = s.user()
    base = fd_count(s.pid)
    conns = []
    for i in range(want):
        k = socket.create_connection((s.host, s.port), timeout=30)
        if i % 3 == 0:   # a WebSocket upgrade that never says hello
            k.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
        elif i % 3 == 1:  # half a request
            k.sendall(b"GET / HTTP/1.1\r\n")
        conns.append(k)
    peak = wait_for(lambda: fd_count(s.pid) >= base + want * 0.9 and fd_count(s.pid), 60)
    assert peak, f"the server holds {fd_count(s.pid)} fds, expected about {base + want}"
    # A normal client is still served while they are open.
    c, w = s.session(a)
    c.send_json({"op": "ping"})
    assert c.recv_until(lambda m: m == {"op": "pong"})[0] is not None
    c.close()
    assert s.healthy_roundtrip()
    for k in conns:
        k.close()
    after = wait_for(lambda: fd_count(s.pid) <= base + 2 and fd_count(s.pid), 60)
    print(f"connections: {want} from one client; server fds {base} before, {peak} with them "
          f"open, {fd_count(s.pid)} after closing")
    assert after, f"fds not released: {base} before, {fd_count(s.pid)} after"


def test_reset_while_the_server_writes_does_not_crash_it(make_server):
    """Regression: a client that streams frames (acks with a ping now and
    then), does not read, and resets the connection. The failed write
    finished the session while a frame already read was still queued; that
    frame then went to the dropped session: a null dereference (SIGSEGV)
    that any client could trigger. 4 clients x 20 s."""
    import random
    import threading
    import courier_wire as cw
    s = make_server("--rate-limit", "1000000/1")
    a = s.user()
    chunk = (cw.encode_frame(cw.OP_TEXT, b'{"op":"ack","seq":0}') * 50 +
             cw.encode_frame(cw.OP_TEXT, b'{"op":"ping"}')) * 20
    started = time.monotonic()
    resets = [0]

    def client(k):
        r = random.Random(k)
        while time.monotonic() - started < 20 and s.alive():
            try:
                c, _ = s.session(a, device=f"w{k}")
            except (AssertionError, OSError, cw.WireError):
                time.sleep(0.05)   # replaced by our own next round, or refused
                continue
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
            c.sock.setblocking(True)
            c.sock.settimeout(0.2)
            until = time.monotonic() + r.uniform(0.05, 0.4)
            try:
                while time.monotonic() < until:
                    c.sock.sendall(chunk)
            except OSError:
                pass
            c.cut(reset=True)
            resets[0] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.alive(), f"courier-server died (exit {s.server.proc.poll()}) after {resets[0]} resets"
    print(f"\nreset while writing: {resets[0]} resets, server alive")
    assert s.healthy_roundtrip()
