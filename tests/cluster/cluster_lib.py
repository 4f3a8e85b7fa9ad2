"""cluster_lib: a private Courier cluster on loopback, and a small client.

Cluster: one redis-server and one PostgreSQL started by tests/services/*.sh
in a temp dir, and N courier-server nodes sharing them (same
--jwt-secret-file and --storage-key-file, distinct --node-id, each its own
--data-dir and port). Client: one WebSocket connection (websocket-client,
Debian's python3-websocket) that buffers frames, so a test can wait for
the frame it wants and still see the others.

Used by test_cluster.py (pytest) and latency.py (measurement).
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import websocket

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = os.path.join(HERE, "..", "services")
PASSWORD = "cluster-password"
START_TIMEOUT = 90.0
FAST_RATE = "1000000/1"


def log(*a):
    print("[cluster]", *a, flush=True)


def missing_prerequisites():
    """A reason the cluster cannot run on this machine, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server not installed (apt-get install -y redis-server)"
    bins = [d for d in (os.path.join("/usr/lib/postgresql", v, "bin")
                        for v in (os.listdir("/usr/lib/postgresql")
                                  if os.path.isdir("/usr/lib/postgresql") else []))
            if os.path.exists(os.path.join(d, "pg_ctl"))]
    if not bins:
        return "PostgreSQL server not installed (apt-get install -y postgresql)"
    return None


def find_server_binary():
    binary = os.environ.get("COURIER_SERVER")
    if binary:
        return binary
    candidates = []
    for root in ["/tmp"] + [os.path.join(HERE, "..", "..")]:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for n in names:
            if n.startswith("build"):
                p = os.path.join(root, n, "examples", "server", "courier-server")
                if os.access(p, os.X_OK):
                    candidates.append(p)
    return max(candidates, key=os.path.getmtime) if candidates else None


# --- services ---------------------------------------------------------------

def _service(script, verb, directory):
    out = subprocess.run([os.path.join(SERVICES, script), verb, directory],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"{script} {verb} failed: {out.stderr.decode(errors='replace')}")
    m = re.search(r"export \w+=(\S+)", out.stdout.decode())
    return m.group(1) if m else None


class Redis:
    """redis-server by tests/services/redis.sh; kill() and restart() keep the port."""

    def __init__(self, directory):
        self.dir = directory
        self.url = None
        self.port = None

    def start(self):
        self.url = _service("redis.sh", "start", self.dir)
        self.port = int(self.url.rsplit(":", 1)[1])

    def pid(self):
        with open(os.path.join(self.dir, "redis.pid")) as f:
            return int(f.read().strip())

    def kill(self):
        """SIGKILL: no goodbye to the clients, no data kept (no persistence)."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        # redis.sh's stop reads the pid file; the restart writes a new one.
        os.unlink(os.path.join(self.dir, "redis.pid"))

    def restart(self):
        """A new redis-server on the same port (the nodes keep their URL), empty."""
        deadline = time.monotonic() + 60
        while True:
            subprocess.run(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--daemonize", "yes", "--pidfile",
                 os.path.join(self.dir, "redis.pid"), "--logfile",
                 os.path.join(self.dir, "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                if port_open(self.port) and os.path.exists(os.path.join(self.dir, "redis.pid")):
                    return
                time.sleep(0.1)
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not restart on port {self.port}")

    def stop(self):
        _service("redis.sh", "stop", self.dir)


class Postgres:
    def __init__(self, directory):
        self.dir = directory
        self.url = None

    def start(self):
        self.url = _service("postgres.sh", "start", self.dir)

    def stop(self):
        _service("postgres.sh", "stop", self.dir)


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class Node:
    """One courier-server process; start() again after kill() reuses its data dir."""

    def __init__(self, binary, name, data_dir, args):
        self.binary = binary
        self.name = name
        self.data_dir = data_dir
        self.args = list(args)
        self.log_path = data_dir + ".log"
        self.proc = None
        self.port = None
        self.admin_port = None

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        cmd = [self.binary, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
               "--data-dir", self.data_dir, "--node-id", self.name] + self.args
        logf = open(self.log_path, "ab")
        logf.write(("\n=== " + " ".join(cmd) + "\n").encode())
        logf.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        found = threading.Event()

        def pump(proc):
            for raw in proc.stdout:
                a = re.search(rb"admin on \S+:(\d+)", raw)
                if a:
                    self.admin_port = int(a.group(1))
                m = re.search(rb"listening on \S+:(\d+)", raw)
                if m and not found.is_set():
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        threading.Thread(target=pump, args=(self.proc,), daemon=True).start()
        found.wait(START_TIMEOUT)
        if self.port is None or self.proc.poll() is not None:
            code = self.proc.poll()
            self.kill()
            raise RuntimeError(f"{self.name} did not start (exit {code}); log:\n"
                               f"{self.log_tail()}")
        return self

    def kill(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None
        self.port = None

    def stop(self):
        """SIGTERM; the exit status (0: a clean stop)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def admin_http(self, method, path):
        """A call of the admin API (--admin-listen) with the node's own admin token."""
        with open(os.path.join(self.data_dir, "admin-token")) as f:
            token = f.read().strip()
        return self.http(method, path, token=token, port=self.admin_port)

    def http(self, method, path, body=None, token=None, port=None):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = data
        return r.status, doc


class Cluster:
    """Redis + PostgreSQL + `nodes` courier-servers in one temp dir."""

    def __init__(self, binary, nodes=3, extra_args=(), workdir=None):
        self.binary = binary
        self.work = workdir or tempfile.mkdtemp(prefix="courier-cluster-")
        os.chmod(self.work, 0o755)
        self.redis = Redis(os.path.join(self.work, "redis"))
        self.pg = Postgres(os.path.join(self.work, "pg"))
        self.count = nodes
        self.extra_args = list(extra_args)
        self.nodes = []
        self.tokens = {}

    def start(self):
        self.redis.start()
        self.pg.start()
        for name in ("jwt-secret", "storage-key"):
            with open(os.path.join(self.work, name), "wb") as f:
                f.write(os.urandom(48))
        args = ["--store", self.pg.url, "--redis", self.redis.url,
                "--jwt-secret-file", os.path.join(self.work, "jwt-secret"),
                "--storage-key-file", os.path.join(self.work, "storage-key"),
                "--rate-limit", FAST_RATE, "--log-level", "warn"] + self.extra_args
        for i in range(self.count):
            name = "node-" + "abcdefghij"[i]
            self.nodes.append(Node(self.binary, name, os.path.join(self.work, name), args))
        # The first node creates the schema; the others then start side by side.
        self.nodes[0].start()
        for n in self.nodes[1:]:
            n.start()
        log("work dir", self.work, "redis", self.redis.url, "pg", self.pg.url,
            "nodes", [(n.name, n.port) for n in self.nodes])
        return self

    def stop(self, keep=False):
        """Stops everything; returns [(node, exit status)] of unclean node stops."""
        bad = []
        for n in self.nodes:
            code = n.stop()
            if code != 0:
                bad.append((n.name, code))
        for svc in (self.redis, self.pg):
            try:
                svc.stop()
            except Exception as e:  # noqa: BLE001 - stop what we can
                log("stopping", type(svc).__name__, "failed:", e)
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)
        return bad

    # --- accounts

    def new_user(self, name, node=0):
        n = self.nodes[node]
        st, doc = n.http("POST", "/v1/register", {"user": name, "password": PASSWORD})
        assert st == 201, (name, st, doc)
        st, doc = n.http("POST", "/v1/login", {"user": name, "password": PASSWORD})
        assert st == 200, (name, st, doc)
        self.tokens[name] = doc["token"]
        return name

    def befriend(self, a, b, node=0):
        n = self.nodes[node]
        st, doc = n.http("POST", "/v1/friends/request", {"user": b}, token=self.tokens[a])
        assert st == 200, (a, b, st, doc)
        st, doc = n.http("POST", "/v1/friends/accept", {"user": a}, token=self.tokens[b])
        assert st == 200, (a, b, st, doc)

    def connect(self, user, device, node, since=None, timeout=60):
        """A client of `user`/`device` on node index `node`, after its welcome."""
        c = Client(self.nodes[node].port, user, device, self.tokens[user], since, timeout)
        c.node = node
        return c


# --- client -----------------------------------------------------------------

class Closed(Exception):
    def __init__(self, code, reason=""):
        super().__init__(f"connection closed: {code} {reason}")
        self.code = code
        self.reason = reason


class Client:
    """One WebSocket session: hello, then buffered frames with arrival times."""

    def __init__(self, port, user, device, token, since=None, timeout=60):
        self.user = user
        self.device = device
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/v1/ws", timeout=timeout)
        self.frames = []       # (arrival monotonic, frame) not yet taken
        self.closed = None
        self.events = {}       # seq -> msg/receipt frame, every one seen
        self.presence = {}     # user -> (online, last_seen), the latest
        hello = {"op": "hello", "token": token, "device": device}
        if since is not None:
            hello["since"] = since
        self.send(hello)
        self.welcome = self.wait_op("welcome", timeout=timeout)

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def message(self, to, body, cid):
        self.send({"op": "send", "cid": cid, "to": to, "body": body})

    def _read(self, timeout):
        """Reads one frame into the buffer; False on timeout; raises Closed."""
        if self.closed is not None:
            raise self.closed
        self.ws.settimeout(max(timeout, 0.001))
        parts = []
        while True:
            try:
                frame = self.ws.recv_frame()
            except (websocket.WebSocketTimeoutException, socket.timeout):
                if parts:
                    continue
                return False
            except (websocket.WebSocketConnectionClosedException, OSError) as e:
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
                except Exception:  # noqa: BLE001 - the peer may be gone already
                    pass
                raise self.closed
            if op == websocket.ABNF.OPCODE_PING:
                self.ws.pong(frame.data)
                continue
            if op == websocket.ABNF.OPCODE_PONG:
                continue
            parts.append(frame.data)
            if not frame.fin:
                continue
            f = json.loads(b"".join(parts).decode("utf-8"))
            if f.get("op") in ("msg", "receipt"):
                self.events.setdefault(f["seq"], f)
            elif f.get("op") == "presence":
                self.presence[f["user"]] = (f["online"], f["last_seen"])
            self.frames.append((time.monotonic(), f))
            return True

    def wait_for(self, pred, timeout=30, what="a frame"):
        """Takes and returns the first buffered (or arriving) frame matching pred."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (_, f) in enumerate(self.frames):
                if pred(f):
                    del self.frames[i]
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user}/{self.device}: no {what} within {timeout} s; "
                                     f"pending {[f for _, f in self.frames][-10:]}")
            try:
                self._read(min(left, 1.0))
            except Closed as e:
                raise AssertionError(f"{self.user}/{self.device}: closed ({e.code} {e.reason}) "
                                     f"while waiting for {what}") from None

    def wait_op(self, op, timeout=30, **fields):
        return self.wait_for(
            lambda f: f.get("op") == op and all(f.get(k) == v for k, v in fields.items()),
            timeout, f"{op} {fields}")

    def wait_timed(self, pred, timeout=30, what="a frame"):
        """Like wait_for, and also the monotonic time the frame arrived."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (t, f) in enumerate(self.frames):
                if pred(f):
                    del self.frames[i]
                    return t, f
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user}/{self.device}: no {what} within {timeout} s")
            self._read(min(left, 1.0))

    def drain(self, seconds=0.0):
        """Reads whatever arrives for `seconds` (at least what is already there)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if not self._read(max(left, 0.001)) and left <= 0:
                return

    def wait_close(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._read(1.0)
            except Closed as e:
                return e
        raise AssertionError(f"{self.user}/{self.device}: not closed within {timeout} s")

    def ack_all(self):
        if self.events:
            self.send({"op": "ack", "seq": max(self.events)})

    def close(self):
        try:
            self.ws.close(timeout=2)
        except Exception:  # noqa: BLE001 - closing a dead socket
            pass
