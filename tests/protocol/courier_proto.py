"""Helpers for the protocol tests: run courier-server, talk HTTP and WebSocket.

Everything here follows docs/PROTOCOL.md (wire protocol v1). Every
receive has a timeout, so a broken server fails a test instead of hanging it.
"""

import base64
import collections
import concurrent.futures
import hashlib
import hmac
import http.client
import itertools
import json
import os
import pathlib
import re
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import websocket  # Debian: python3-websocket (websocket-client)

# Generous: the suite runs on a slow shared machine. A frame that should come
# comes well within this; a frame that never comes fails the test after it.
RECV_TIMEOUT = float(os.environ.get("COURIER_TEST_RECV_TIMEOUT", "15"))
HTTP_TIMEOUT = 30.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
# How long a test listens for frames that must NOT come. Only a false pass
# can result from a slow server here, never a false failure.
QUIET = 1.0

# The ops of inbox events (each has a seq and is acked).
INBOX_OPS = ("msg", "receipt", "group_event")

PASSWORD = "correct horse battery"

_names = itertools.count(1)
_run = secrets.token_hex(3)


def unique_name(prefix="u"):
    """A fresh user or device name (1-64 of [A-Za-z0-9_.-])."""
    return f"{prefix}{next(_names)}_{_run}"


def now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# Locating and running the server


def find_server_binary():
    env = os.environ.get("COURIER_SERVER")
    if env:
        return env
    repo = pathlib.Path(__file__).resolve().parents[2]
    roots = [p for p in repo.glob("build*") if p.is_dir()]
    roots += [p for p in pathlib.Path("/tmp").glob("build-*") if p.is_dir()]
    found = []
    for root in roots:
        for cand in (root / "examples" / "server" / "courier-server",
                     root / "examples" / "courier-server",
                     root / "courier-server"):
            if cand.is_file() and os.access(cand, os.X_OK):
                found.append(cand)
    if not found:
        return None
    # The most recently built one.
    return str(max(found, key=lambda p: p.stat().st_mtime))


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


class Server:
    """One courier-server process on 127.0.0.1 with a port of its own."""

    def __init__(self, binary, data_dir, args=(), env=None, log_path=None):
        self.binary = binary
        self.data_dir = pathlib.Path(data_dir)
        self.args = list(args)
        self.env = env
        self.log_path = pathlib.Path(log_path or (self.data_dir.parent /
                                                  (self.data_dir.name + ".log")))
        self.proc = None
        self.host = None
        self.port = None
        self.admin_port = None  # --admin-listen's real port ("admin on HOST:PORT")
        self.stdout_lines = []
        self._stdout_thread = None
        self.returncode = None
        self.token_key = None  # bytes of --jwt-secret-file, when the tests gave it
        self.tls_ca = None  # a CA file: talk HTTPS and WSS to this server
        self._token_template = None

    # -- process

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self._log = open(self.log_path, "ab")
        cmd = [self.binary, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
               "--data-dir", str(self.data_dir)] + self.args
        self._log.write(("\n=== " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     env=env)
        found = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                a = re.search(r"^admin on (\S+):(\d+)", line)
                if a:  # printed before "listening on"
                    self.admin_port = int(a.group(2))
                m = re.search(r"listening on (\S+):(\d+)", line)
                if m and not found.is_set():
                    self.host, self.port = m.group(1), int(m.group(2))
                    found.set()
            found.set()

        self._stdout_thread = threading.Thread(target=pump, daemon=True)
        self._stdout_thread.start()
        if not found.wait(START_TIMEOUT) or self.port is None:
            code = self.proc.poll()
            self.kill()
            raise AssertionError(
                f"courier-server did not print 'listening on HOST:PORT' within "
                f"{START_TIMEOUT}s (exit status {code}); stdout: {self.stdout_lines!r}; "
                f"log:\n{self.log_tail()}")
        if self.host in ("0.0.0.0", "::", "[::]"):
            self.host = "127.0.0.1"
        self.host = self.host.strip("[]")
        return self

    def send_signal(self, sig):
        """Sends `sig` without waiting (see wait)."""
        assert self.proc is not None and self.proc.poll() is None, "server not running"
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit; returns its status (None if it hung)."""
        if self.proc is None:
            return self.returncode
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.returncode = None
            return None
        self.returncode = self.proc.returncode
        self._finish()
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the server and returns its exit status (None if it hung)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.returncode = None
                return None
        self.returncode = self.proc.returncode
        self._finish()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._finish()

    def _finish(self):
        if self._stdout_thread is not None:
            self._stdout_thread.join(5)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        self.proc = None

    def log_tail(self, n=40):
        try:
            lines = self.log_path.read_text("utf-8", "replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])

    @property
    def url(self):
        scheme = "wss" if self.tls_ca else "ws"
        return f"{scheme}://{self.host}:{self.port}/v1/ws"

    def _ssl_context(self):
        return ssl.create_default_context(cafile=str(self.tls_ca))

    # -- HTTP

    def http(self, method, path, body=None, token=None, raw=None, headers=None):
        if self.tls_ca:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=HTTP_TIMEOUT,
                                               context=self._ssl_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                            payload)
        finally:
            conn.close()

    def admin_token(self):
        """The admin API's bearer token (DATA_DIR/admin-token, made at start)."""
        return (pathlib.Path(self.data_dir) / "admin-token").read_text().strip()

    def admin_http(self, method, path, body=None, token=None, headers=None):
        """A request to the admin address (plain HTTP on loopback); `token`
        None sends the server's own admin token, "" sends none."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=HTTP_TIMEOUT)
        hdrs = dict(headers or {})
        if token is None:
            token = self.admin_token()
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                            payload)
        finally:
            conn.close()

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
        return WsClient(self.url, self._sslopt())

    def _sslopt(self):
        if not self.tls_ca:
            return None
        return {"ca_certs": str(self.tls_ca), "cert_reqs": ssl.CERT_REQUIRED}

    def connect(self, user, device=None, since=None, token=None):
        """A connection that has said hello and received welcome."""
        c = WsClient(self.url, self._sslopt())
        c.hello(token if token is not None else user.token,
                device or "dev", since=since)
        c.welcome = c.expect("welcome")
        return c


class User:
    def __init__(self, name, password, token, expires_at):
        self.name = name
        self.password = password
        self.token = token
        self.expires_at = expires_at

    def __repr__(self):
        return f"User({self.name})"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


# --------------------------------------------------------------------------
# WebSocket client


class Closed(Exception):
    """The server closed the connection; `code` is its close code (or None)."""

    def __init__(self, code, reason=""):
        super().__init__(f"connection closed by server with code {code} {reason!r}")
        self.code = code
        self.reason = reason


class WsClient:
    """A WebSocket connection that keeps frames it was not asked for.

    Frames arrive in order into `pending`. `take` returns the next frame
    in order (optionally passing over ops such as presence, which stay
    pending); `wait_for` returns the first frame that matches, keeping the
    others pending in order.
    """

    def __init__(self, url, sslopt=None):
        self.ws = websocket.create_connection(url, timeout=RECV_TIMEOUT,
                                              enable_multithread=True, sslopt=sslopt)
        self.pending = collections.deque()
        self.closed = None  # Closed once the server closed
        self.welcome = None

    # -- sending

    def send_raw(self, text):
        self.ws.send(text)

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def hello(self, token, device, since=None, **extra):
        frame = {"op": "hello", "token": token, "device": device}
        if since is not None:
            frame["since"] = since
        frame.update(extra)
        self.send(frame)

    def send_msg(self, to, body, cid=None, **extra):
        cid = cid or unique_name("c")
        frame = {"op": "send", "cid": cid, "to": to, "body": body}
        frame.update(extra)
        self.send(frame)
        return cid

    def message(self, to, body="hi", cid=None, **extra):
        """Sends and waits for its answer (sent or error with that cid)."""
        cid = self.send_msg(to, body, cid=cid, **extra)
        return self.wait_for(lambda f: f.get("op") in ("sent", "error") and
                             f.get("cid") == cid,
                             what=f"sent/error for cid {cid}")

    def group_op(self, action, cid=None, **fields):
        """Sends a `group` op and waits for its answer (group_ok or error)."""
        cid = cid or unique_name("g")
        frame = {"op": "group", "cid": cid, "action": action}
        frame.update(fields)
        self.send(frame)
        return self.wait_for(lambda f: f.get("op") in ("group_ok", "error") and
                             f.get("cid") == cid, what=f"group_ok/error for cid {cid}")

    def create_group(self, name, members=(), cid=None):
        """Creates a group; returns its id (asserts group_ok)."""
        ok = self.group_op("create", cid=cid, name=name, members=list(members))
        assert ok["op"] == "group_ok" and ok["changed"] is True, ok
        return ok["group"]

    def group_message(self, group, body="hi", cid=None):
        """Sends to a group and waits for its answer (sent or error)."""
        cid = cid or unique_name("c")
        self.send({"op": "send", "cid": cid, "group": group, "body": body})
        return self.wait_for(lambda f: f.get("op") in ("sent", "error") and
                             f.get("cid") == cid, what=f"sent/error for cid {cid}")

    def list_groups(self, group=None, cid=None):
        """Sends `groups` and waits for its answer (groups or error)."""
        cid = cid or unique_name("q")
        frame = {"op": "groups", "cid": cid}
        if group is not None:
            frame["group"] = group
        self.send(frame)
        return self.wait_for(lambda f: f.get("op") in ("groups", "error") and
                             f.get("cid") == cid, what=f"groups/error for cid {cid}")

    def typing(self, on=True, to=None, group=None):
        frame = {"op": "typing", "on": on}
        if to is not None:
            frame["to"] = to
        if group is not None:
            frame["group"] = group
        self.send(frame)

    def ack(self, seq):
        self.send({"op": "ack", "seq": seq})

    def read(self, ids):
        self.send({"op": "read", "ids": list(ids)})

    def ping(self):
        self.send({"op": "ping"})

    def barrier(self):
        """Ping and wait for pong: every frame the server wrote before it is pending."""
        self.ping()
        self.wait_for(lambda f: f.get("op") == "pong", what="pong")

    # -- receiving

    def _read_frame(self, timeout):
        """The next text frame from the socket as a dict; raises Closed.

        Reads raw frames (not websocket-client's recv_data_frame, which
        answers a close frame before returning it and loses it when that
        answer fails on a socket the server already shut).
        """
        if self.closed is not None:
            raise self.closed
        deadline = time.monotonic() + timeout
        parts = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.ws.settimeout(left)
            try:
                frame = self.ws.recv_frame()
            except (websocket.WebSocketTimeoutException, socket.timeout):
                raise TimeoutError from None
            except (websocket.WebSocketConnectionClosedException, ConnectionError,
                    OSError) as e:
                self.closed = Closed(None, f"no close frame: {e!r}")
                raise self.closed from None
            if frame is None:
                continue
            op = frame.opcode
            if op == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data or b""
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                self.closed = Closed(code, data[2:].decode("utf-8", "replace"))
                try:
                    self.ws.send_close()
                except Exception:  # noqa: BLE001 - the server may have shut already
                    pass
                raise self.closed
            if op == websocket.ABNF.OPCODE_PING:
                try:
                    self.ws.pong(frame.data)
                except Exception:  # noqa: BLE001
                    pass
                continue
            if op == websocket.ABNF.OPCODE_PONG:
                continue
            if op == websocket.ABNF.OPCODE_BINARY:
                raise AssertionError(f"server sent a binary frame: {frame.data[:100]!r}")
            assert op in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_CONT), op
            parts.append(frame.data)
            if not frame.fin:
                continue
            text = b"".join(parts).decode("utf-8")
            try:
                obj = json.loads(text)
            except ValueError:
                raise AssertionError(f"server sent a text frame that is not JSON: "
                                     f"{text[:200]!r}") from None
            assert isinstance(obj, dict) and isinstance(obj.get("op"), str), \
                f"server frame without a string op: {text[:200]!r}"
            return obj

    def take(self, skip=("presence", "pong"), timeout=RECV_TIMEOUT):
        """The next frame in order whose op is not in `skip`."""
        for i, f in enumerate(self.pending):
            if f["op"] not in skip:
                del self.pending[i]
                return f
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self._read_frame(deadline - time.monotonic())
            except TimeoutError:
                raise AssertionError(
                    f"no frame (other than {skip}) within {timeout}s; pending: "
                    f"{list(self.pending)!r:.600}") from None
            if f["op"] not in skip:
                return f
            self.pending.append(f)

    def expect(self, op, skip=("presence", "pong"), timeout=RECV_TIMEOUT, **fields):
        f = self.take(skip=tuple(s for s in skip if s != op), timeout=timeout)
        assert f["op"] == op, f"expected {op!r}, got {f!r}"
        for k, v in fields.items():
            assert f.get(k) == v, f"{op}.{k}: expected {v!r}, got {f!r}"
        return f

    def wait_for(self, pred, timeout=RECV_TIMEOUT, what="a matching frame"):
        for i, f in enumerate(self.pending):
            if pred(f):
                del self.pending[i]
                return f
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self._read_frame(deadline - time.monotonic())
            except TimeoutError:
                raise AssertionError(f"no {what} within {timeout}s; pending: "
                                     f"{list(self.pending)!r:.800}") from None
            if pred(f):
                return f
            self.pending.append(f)

    def wait_op(self, op, timeout=RECV_TIMEOUT, **fields):
        return self.wait_for(
            lambda f: f["op"] == op and all(f.get(k) == v for k, v in fields.items()),
            timeout=timeout, what=f"{op} {fields or ''}")

    def error(self, timeout=RECV_TIMEOUT):
        return self.wait_op("error", timeout=timeout)

    def next_event(self, timeout=RECV_TIMEOUT):
        """The next inbox event (msg, receipt or group_event), in order."""
        return self.wait_for(lambda f: f["op"] in INBOX_OPS, timeout=timeout,
                             what="inbox event (msg/receipt/group_event)")

    def events(self, n, timeout=RECV_TIMEOUT):
        return [self.next_event(timeout) for _ in range(n)]

    def until_synced(self, timeout=RECV_TIMEOUT):
        """Inbox events up to `synced` (returned as (events, synced))."""
        evs = []
        while True:
            f = self.wait_for(lambda f: f["op"] in INBOX_OPS + ("synced",),
                              timeout=timeout, what="event or synced")
            if f["op"] == "synced":
                return evs, f
            evs.append(f)

    def listen(self, seconds=QUIET):
        """Reads every frame for `seconds` into pending (for 'nothing comes' checks)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self.pending.append(self._read_frame(left))
            except TimeoutError:
                return

    def pending_ops(self, *ops):
        return [f for f in self.pending if f["op"] in ops]

    def expect_close(self, timeout=RECV_TIMEOUT):
        """Reads until the server closes; returns the close code."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.pending.append(self._read_frame(deadline - time.monotonic()))
            except Closed as c:
                return c.code
            except TimeoutError:
                raise AssertionError(f"server did not close within {timeout}s; "
                                     f"pending: {list(self.pending)!r:.600}") from None

    def close(self):
        try:
            self.ws.close(timeout=2)
        except Exception:  # noqa: BLE001 - closing a dead socket is fine
            pass
        # websocket-client's close() does nothing once a close frame was
        # answered; the server then waits for our TCP FIN. Close the socket.
        self.ws.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
