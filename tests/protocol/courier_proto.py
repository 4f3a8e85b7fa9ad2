"""Helpers for the protocol tests: courier-server with users, friends and tokens.

Everything here follows docs/PROTOCOL.md (wire protocol v1). The process,
HTTP and WebSocket parts are the shared test client library in tests/pylib
(courier_server, courier_http, courier_ws), re-exported here so the tests
say cp.WsClient, cp.Closed, cp.unique_name; this module adds what the
protocol scenarios need on top: Server (a courier-server that registers
users, befriends them and connects them) and HS256 tokens the tests mint.
"""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import pathlib
import re
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

import courier_http  # noqa: E402
from courier_http import HTTP_TIMEOUT, Response  # noqa: E402,F401
from courier_server import ServerProcess, find_server_binary  # noqa: E402,F401
from courier_ws import (INBOX_OPS, QUIET, RECV_TIMEOUT, Closed, WsClient,  # noqa: E402,F401
                        sslopt_for, unique_name)

PASSWORD = "correct horse battery"


def now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# The server's flags


_help_cache = {}


def server_help(binary):
    if binary not in _help_cache:
        try:
            out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                                 timeout=30)
            _help_cache[binary] = out.stdout + out.stderr
        except (OSError, subprocess.SubprocessError) as e:  # pragma: no cover
            _help_cache[binary] = f"<--help failed: {e}>"
    return _help_cache[binary]


def pick_flag(binary, candidates, what):
    """The first of `candidates` (flag names) that `--help` lists.

    docs/PROTOCOL.md leaves some test knobs (idle timeout, undelivered limit) to
    the server; the server offers them as additive flags.
    """
    text = server_help(binary)
    for flag in candidates:
        if re.search(re.escape(flag) + r"(?![A-Za-z0-9-])", text):
            return flag
    raise AssertionError(
        f"courier-server --help lists no flag for {what} (looked for "
        f"{', '.join(candidates)}); --help says:\n{text}")


class Server(ServerProcess):
    """One courier-server process on 127.0.0.1 with a port of its own, and the
    protocol's HTTP and WebSocket calls against it."""

    def __init__(self, binary, data_dir, args=(), env=None, log_path=None):
        super().__init__(binary, data_dir, args, env, log_path)
        self.token_key = None  # bytes of --jwt-secret-file, when the tests gave it
        self.tls_ca = None  # a CA file: talk HTTPS and WSS to this server
        self._token_template = None

    @property
    def url(self):
        scheme = "wss" if self.tls_ca else "ws"
        return f"{scheme}://{self.host}:{self.port}/v1/ws"

    # -- HTTP

    def http(self, method, path, body=None, token=None, raw=None, headers=None):
        context = ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else None
        return courier_http.request(self.host, self.port, method, path, body=body,
                                    token=token, raw=raw, headers=headers,
                                    ssl_context=context)

    def admin_token(self):
        """The admin API's bearer token (DATA_DIR/admin-token, made at start)."""
        return (pathlib.Path(self.data_dir) / "admin-token").read_text().strip()

    def admin_http(self, method, path, body=None, token=None, headers=None):
        """A request to the admin address (plain HTTP on loopback); `token`
        None sends the server's own admin token, "" sends none."""
        if token is None:
            token = self.admin_token()
        return courier_http.request("127.0.0.1", self.admin_port, method, path, body=body,
                                    token=token or None, headers=headers)

    def register(self, user, password=PASSWORD):
        return self.http("POST", "/v1/register", {"user": user, "password": password})

    def login(self, user, password=PASSWORD):
        return self.http("POST", "/v1/login", {"user": user, "password": password})

    def new_user(self, prefix="u", password=PASSWORD):
        """Registers and logs in a fresh user; returns a User.

        When the tests know the server's token key (`token_key`), only the
        first user logs in; later users get a token signed like that one with
        their own subject. That saves a password hash per user on a slow
        machine; login itself has its own tests.
        """
        name = unique_name(prefix)
        r = self.register(name, password)
        assert r.status == 201, f"register {name}: {r}"
        if self.token_key is not None and self._token_template is not None:
            header, claims = self._token_template
            token = jwt_sign(self.token_key, header, dict(claims, sub=name))
            return User(name, password, token, claims["exp"] * 1000)
        r = self.login(name, password)
        assert r.status == 200, f"login {name}: {r}"
        token = r.json()["token"]
        if self.token_key is not None:
            assert jwt_verify(self.token_key, token), "the server signs with another key"
            self._token_template = jwt_parts(token)
        return User(name, password, token, r.json().get("expires_at"))

    def new_users(self, *prefixes):
        """Registers and logs in one fresh user per prefix, concurrently
        (password hashing is the slow part of a test's setup)."""
        with concurrent.futures.ThreadPoolExecutor(len(prefixes)) as pool:
            return list(pool.map(self.new_user, prefixes))

    def befriend(self, a, b):
        r = self.http("POST", "/v1/friends/request", {"user": b.name}, token=a.token)
        assert r.status == 200, f"{a.name} requests {b.name}: {r}"
        r = self.http("POST", "/v1/friends/accept", {"user": a.name}, token=b.token)
        assert r.status == 200, f"{b.name} accepts {a.name}: {r}"

    def friends(self, user):
        r = self.http("GET", "/v1/friends", token=user.token)
        assert r.status == 200, r
        return r.json()["friends"]

    # -- WebSocket

    def ws(self):
        """An open WebSocket on /v1/ws that has sent nothing yet."""
        return WsClient(self.url, sslopt_for(self.tls_ca))

    def connect(self, user, device=None, since=None, token=None):
        """A connection that has said hello and received welcome."""
        c = self.ws()
        c.hello(token if token is not None else user.token,
                device or "dev", since=since)
        c.welcome = c.expect("welcome")
        return c

    def connect_synced(self, user, device=None, since=None):
        """A connection past welcome and `synced`, with nothing before synced
        (the device's inbox is empty or was acked up to `since`)."""
        c = self.connect(user, device, since=since)
        try:
            c.expect("synced")
        except BaseException:
            c.close()
            raise
        return c


class User:
    def __init__(self, name, password, token, expires_at):
        self.name = name
        self.password = password
        self.token = token
        self.expires_at = expires_at

    def __repr__(self):
        return f"User({self.name})"


# --------------------------------------------------------------------------
# JWT (HS256) for tokens the tests mint themselves


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    head, payload, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(payload))


def jwt_sign(secret, header, payload):
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(payload, separators=(",", ":")).encode()))
    if header.get("alg") == "none":
        return signing_input + "."
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def jwt_verify(secret, token):
    """True when `token` carries a valid HS256 signature by `secret`."""
    signing_input, _, sig = token.rpartition(".")
    want = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(b64url(want), sig)
