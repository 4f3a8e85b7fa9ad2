"""cluster_lib: a private Courier cluster on loopback, and its client.

Cluster: one redis-server and one PostgreSQL started by tests/services/*.sh
in a temp dir, and N courier-server nodes sharing them (same
--jwt-secret-file and --storage-key-file, distinct --node-id, each its own
--data-dir and port). Node is tests/pylib's courier_server.ServerProcess
with a name; Client is courier_ws.WsClient after hello and welcome, which
also keeps every inbox event by seq, the latest presence per user and each
frame's arrival time.

Used by test_cluster.py (pytest) and latency.py (measurement).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = os.path.join(HERE, "..", "services")
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))

import courier_http  # noqa: E402
from courier_server import ServerProcess, find_server_binary, port_open  # noqa: E402,F401
from courier_ws import Closed, WsClient  # noqa: E402,F401

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


class Node(ServerProcess):
    """One courier-server process with --node-id `name`; start() again after
    kill9() reuses its data dir."""

    def __init__(self, binary, name, data_dir, args):
        super().__init__(binary, data_dir, list(args) + ["--node-id", name])
        self.name = name

    def admin_http(self, method, path):
        """A call of the admin API (--admin-listen) with the node's own admin token."""
        with open(os.path.join(self.data_dir, "admin-token")) as f:
            token = f.read().strip()
        return self.http(method, path, token=token, port=self.admin_port)

    def http(self, method, path, body=None, token=None, port=None):
        """(status, JSON document or raw bytes) of one request."""
        r = courier_http.request("127.0.0.1", port or self.port, method, path, body=body,
                                 token=token, timeout=60)
        return r.status, r.doc()


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

class Client(WsClient):
    """One WebSocket session on a node: hello, then buffered frames
    (courier_ws.WsClient), keeping every inbox event by seq, the latest
    presence per user and each frame's arrival time."""

    def __init__(self, port, user, device, token, since=None, timeout=60):
        self.events = {}       # seq -> msg/receipt frame, every one seen
        self.presence = {}     # user -> (online, last_seen), the latest
        self._arrived = {}     # id(frame) -> arrival monotonic, for wait_timed
        super().__init__(f"ws://127.0.0.1:{port}/v1/ws", timeout=timeout)
        self.timeout = 30
        self.label = f"{user}/{device}: "
        self.user = user
        self.device = device
        self.hello(token, device, since=since)
        self.welcome = self.wait_op("welcome", timeout=timeout)

    def on_frame(self, f):
        self._arrived[id(f)] = time.monotonic()
        if f["op"] in ("msg", "receipt"):
            self.events.setdefault(f["seq"], f)
        elif f["op"] == "presence":
            self.presence[f["user"]] = (f["online"], f["last_seen"])

    def message(self, to, body, cid):
        """Sends without waiting for `sent`."""
        self.send_msg(to, body, cid=cid)

    def wait_for(self, pred, timeout=None, what="a frame"):
        """WsClient.wait_for; a close while waiting fails the test too."""
        try:
            return super().wait_for(pred, timeout=timeout, what=what)
        except Closed as e:
            raise AssertionError(f"{self.label}closed ({e.code} {e.reason}) "
                                 f"while waiting for {what}") from None

    def wait_timed(self, pred, timeout=None, what="a frame"):
        """Like wait_for, and also the monotonic time the frame arrived."""
        f = self.wait_for(pred, timeout=timeout, what=what)
        return self._arrived.pop(id(f)), f

    def drain(self, seconds=0.0):
        """Reads whatever arrives for `seconds` (at least what is already there)."""
        self.listen(seconds)

    def ack_all(self):
        if self.events:
            self.ack(max(self.events))
