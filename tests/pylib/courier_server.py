"""courier_server: find, start and stop courier-server processes for tests.

Contract:
- find_server_binary(): COURIER_SERVER, else the newest courier-server built
  in this repository's build*/ dirs or /tmp/build-*/ (None when there is none).
- ServerProcess: one courier-server on loopback with its own --data-dir and
  --admin-listen 127.0.0.1:0. start() listens on a port the kernel picks
  and returns once the server printed "listening on HOST:PORT" (then
  `host`, `port` and `admin_port` are set), or raises ServerStartError with
  the log's tail. stop() sends a signal (SIGTERM) and returns the exit
  status (None if the server hung and was killed; 0 if it was not running:
  never started, or ended by kill9(), which sends SIGKILL). stderr goes to `log_path`; stdout
  is read by a thread into `stdout_lines`, so the pipe never fills.
- RestartableServer: a ServerProcess that keeps its port: start() after
  kill9() listens on the same port again (retrying while the old sockets
  linger), so clients keep their URL. Used by the chaos and abuse tests.

Stdlib only. Not thread-safe: one test thread drives a server.
"""

import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0

REPO = pathlib.Path(__file__).resolve().parents[2]


def find_server_binary():
    """COURIER_SERVER, else the most recently built courier-server, else None."""
    env = os.environ.get("COURIER_SERVER")
    if env:
        return env
    roots = [p for p in REPO.glob("build*") if p.is_dir()]
    roots += [p for p in pathlib.Path("/tmp").glob("build*") if p.is_dir()]
    found = []
    for root in roots:
        for cand in (root / "examples" / "server" / "courier-server",
                     root / "examples" / "courier-server",
                     root / "courier-server"):
            if cand.is_file() and os.access(cand, os.X_OK):
                found.append(cand)
    if not found:
        return None
    return str(max(found, key=lambda p: p.stat().st_mtime))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    """True when something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class ServerStartError(AssertionError):
    """courier-server did not print "listening on"; `code` is its exit status."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class ServerProcess:
    """One courier-server process on 127.0.0.1 (see the module docstring)."""

    def __init__(self, binary, data_dir, args=(), env=None, log_path=None):
        self.binary = binary
        self.data_dir = pathlib.Path(data_dir)
        self.args = list(args)
        self.env = env  # added to os.environ
        self.log_path = pathlib.Path(log_path or (self.data_dir.parent /
                                                  (self.data_dir.name + ".log")))
        self.host = "127.0.0.1"
        self.port = None  # the port it listens on, once started
        self.admin_port = None  # --admin-listen's real port ("admin on HOST:PORT")
        self.proc = None
        self.returncode = 0  # of the last stop() or wait(); kill9() resets it
        self.stdout_lines = []
        self.starts = 0  # successful starts
        self._stdout_thread = None
        self._log = None

    # -- starting

    def command(self, port):
        return [self.binary, "--listen", f"127.0.0.1:{port}", "--admin-listen",
                "127.0.0.1:0", "--data-dir", str(self.data_dir)] + self.args

    def start(self, timeout=START_TIMEOUT):
        """Starts the server; returns self once it listens (ServerStartError if not)."""
        code = self._spawn(0, timeout)
        if code is not True:
            raise ServerStartError(
                f"courier-server did not print 'listening on HOST:PORT' within {timeout}s "
                f"(exit status {code}); stdout: {self.stdout_lines!r}; log "
                f"{self.log_path}:\n{self.log_tail()}", code)
        return self

    def _spawn(self, port, timeout):
        """One start attempt on `port`: True once listening, else the exit status."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # libmongoc's counters in /dev/shm outlive a killed server and make a
        # later server with the same PID warn on stderr (tests/run.sh).
        env.setdefault("MONGOC_DISABLE_SHM", "1")
        if self.env:
            env.update(self.env)
        cmd = self.command(port)
        self._log = open(self.log_path, "ab")
        self._log.write(("\n=== " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=env)
        self.returncode = None
        listening = threading.Event()
        found = {}

        def pump(proc):
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                a = re.search(r"^admin on (\S+):(\d+)", line)
                if a:  # printed before "listening on"
                    self.admin_port = int(a.group(2))
                m = re.search(r"listening on (\S+):(\d+)", line)
                if m and not listening.is_set():
                    found["host"], found["port"] = m.group(1), int(m.group(2))
                    listening.set()
            listening.set()

        self._stdout_thread = threading.Thread(target=pump, args=(self.proc,), daemon=True)
        self._stdout_thread.start()
        listening.wait(timeout)
        if "port" in found and self.proc.poll() is None:
            host = found["host"].strip("[]")
            self.host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            self.port = found["port"]
            self.starts += 1
            return True
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        self.kill9()
        return code

    # -- stopping

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def send_signal(self, sig):
        """Sends `sig` without waiting (see wait)."""
        assert self.alive(), "server not running"
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit; its status (None if it hung: then killed)."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
                self.returncode = self.proc.returncode
            except subprocess.TimeoutExpired:
                self.returncode = None
                self.proc.kill()
                self.proc.wait(10)
            self._finish()
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the server (unless it exited) and returns wait()'s status."""
        if self.alive():
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def kill9(self):
        """SIGKILL and reap: no goodbye to the clients."""
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(10)
        self.returncode = 0
        self._finish()

    kill = kill9

    def _finish(self):
        if self._stdout_thread is not None:
            self._stdout_thread.join(5)
            self._stdout_thread = None
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.proc = None

    def log_tail(self, n=40):
        try:
            lines = self.log_path.read_text("utf-8", "replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])


class RestartableServer(ServerProcess):
    """A ServerProcess that listens on the same port at every start."""

    def __init__(self, binary, data_dir, args=(), env=None, log_path=None):
        super().__init__(binary, data_dir, args, env, log_path)
        self.port = free_port()

    def start(self, timeout=START_TIMEOUT, attempts=20):
        """Starts on `port`, retrying while the killed process's sockets hold it
        (after 6 tries on a new port). ServerStartError when the flags are
        refused (exit status 2) or every attempt failed."""
        code = None
        for attempt in range(attempts):
            code = self._spawn(self.port, timeout)
            if code is True:
                return self
            if code == 2:  # a configuration error: retrying will not help
                raise ServerStartError(
                    f"courier-server refused its flags; see {self.log_path}:\n"
                    f"{self.log_tail()}", code)
            time.sleep(0.5)
            if attempt > 5:
                self.port = free_port()
        raise ServerStartError(f"courier-server did not start (last exit {code}); "
                               f"see {self.log_path}", code)
