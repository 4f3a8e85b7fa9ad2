"""Fixtures for the abuse tests: courier-server processes on private data dirs.

COURIER_SERVER names the binary (ctest sets it). The wire client is
tests/chaos/courier_wire.py (raw sockets, so a test controls every byte).
Every server a test starts must still be alive at the end of the test (bad
input never crashes it) and must exit 0 on SIGTERM.
"""

import os
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))

import courier_wire as cw  # noqa: E402
from courier_server import RestartableServer  # noqa: E402

PASSWORD = "abuse-password"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Srv:
    """A running courier-server and helpers to talk to it."""

    def __init__(self, binary, tmp, args, data_dir=None, env=None):
        os.makedirs(tmp, exist_ok=True)
        self.server = RestartableServer(binary, data_dir or os.path.join(tmp, "data"), args,
                                            log_path=os.path.join(tmp, "server.log"), env=env)
        self.server.start()
        self.port = self.server.port
        self.host = "127.0.0.1"

    @property
    def pid(self):
        return self.server.pid()

    def alive(self):
        return self.server.alive()

    def http(self, method, path, body=None, token=None, headers=None, timeout=30.0):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        status, h, raw = cw.http_request(self.host, self.port, method, path, body, hdrs, timeout)
        return status, h, raw

    def user(self, prefix="u"):
        """Registers a fresh user; returns (name, token)."""
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        st, doc = cw.http_json(self.host, self.port, "POST", "/v1/register",
                               {"user": name, "password": PASSWORD})
        assert st == 201, (st, doc)
        # A token minted with the server's own key is what /v1/login gives,
        # without a second Argon2id run (test_tokens.py checks real logins).
        now = int(time.time())
        return name, mint(jwt_secret_of(self), {"alg": "HS256", "typ": "JWT"},
                          {"sub": name, "iat": now, "exp": now + 3600})

    def befriend(self, a, b):
        st, _ = cw.http_json(self.host, self.port, "POST", "/v1/friends/request",
                             {"user": b[0]}, token=a[1])
        assert st == 200
        st, _ = cw.http_json(self.host, self.port, "POST", "/v1/friends/accept",
                             {"user": a[0]}, token=b[1])
        assert st == 200

    def ws(self, timeout=10.0):
        return cw.WsConn(self.host, self.port, timeout=timeout)

    def session(self, who, device="d1", since=None):
        """A WebSocket past hello: (conn, welcome)."""
        c = self.ws()
        hello = {"op": "hello", "token": who[1], "device": device}
        if since is not None:
            hello["since"] = since
        c.send_json(hello)
        w, seen = c.recv_until(lambda m: isinstance(m, dict) and m.get("op") == "welcome")
        assert w is not None, seen
        return c, w

    def healthy_roundtrip(self):
        """A normal client still works: register, befriend, send, receive."""
        a, b = self.user("ok"), self.user("ok")
        self.befriend(a, b)
        ca, _ = self.session(a)
        cb, _ = self.session(b)
        ca.send_json({"op": "send", "cid": "health-1", "to": b[0], "body": "still here"})
        sent, _ = ca.recv_until(lambda m: isinstance(m, dict) and m.get("op") == "sent")
        msg, _ = cb.recv_until(lambda m: isinstance(m, dict) and m.get("op") == "msg")
        ca.close()
        cb.close()
        return sent is not None and msg is not None and msg["body"] == "still here"

    def stop(self):
        return self.server.stop()


@pytest.fixture(scope="session")
def server_binary():
    b = os.environ.get("COURIER_SERVER")
    if not b or not os.access(b, os.X_OK):
        pytest.fail("set COURIER_SERVER to the courier-server binary (ctest does)",
                    pytrace=False)
    return b


@pytest.fixture
def make_server(server_binary, tmp_path):
    started = []

    def make(*args, name="srv", data_dir=None, env=None):
        s = Srv(server_binary, str(tmp_path / f"{name}{len(started)}"), list(args), data_dir,
                env)
        started.append(s)
        return s

    yield make
    for s in started:
        assert s.alive(), f"courier-server died during the test; log: {s.server.log_path}"
        assert s.stop() == 0, "courier-server did not exit 0 on SIGTERM"


@pytest.fixture(scope="module")
def srv(server_binary, tmp_path_factory):
    """One shared server per test module: fast rate limit, short timeouts off."""
    s = Srv(server_binary, str(tmp_path_factory.mktemp("shared")),
            ["--rate-limit", "1000000/1", "--log-level", "warn"])
    yield s
    assert s.alive(), f"courier-server died; log: {s.server.log_path}"
    assert s.stop() == 0


def wait_for(pred, timeout=30.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def b64url(data):
    import base64
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret, header, claims, signature=None):
    """A JWT with any header and claims, HS256-signed with `secret` unless
    `signature` (bytes) is given."""
    import hashlib
    import hmac
    import json
    signing = b64url(json.dumps(header, separators=(",", ":"))) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")))
    if signature is None:
        signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(signature)


def jwt_secret_of(s):
    with open(os.path.join(s.server.data_dir, "jwt-secret"), "rb") as f:
        return f.read()


def is_op(op):
    return lambda m: isinstance(m, dict) and m.get("op") == op


def roundtrip_ping(conn, timeout=10.0):
    """Sends ping; returns the messages up to the pong (None if no pong)."""
    conn.send_json({"op": "ping"})
    m, seen = conn.recv_until(lambda m: m == {"op": "pong"} or isinstance(m, tuple), timeout)
    return seen if m == {"op": "pong"} else None
