"""services: the processes the chaos driver runs and breaks.

CourierServer: courier-server on a data dir, SIGKILLed and restarted on the
same dir (and the same port when it is free again). Redis and Postgres:
private instances on fixed loopback ports, stopped and started in place
(the server keeps its URLs). Postgres runs as the `postgres` user when we
are root, like tests/services/postgres.sh.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class CourierServer:
    def __init__(self, binary, data_dir, extra_args=(), log_path=None, env=None):
        self.binary = binary
        self.env = env
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.log_path = log_path or os.path.join(os.path.dirname(data_dir), "server.log")
        self.proc = None
        self.port = free_port()
        self.admin_port = None  # --admin-listen's real port, read at start
        self.starts = 0

    def start(self, timeout=60.0, attempts=20):
        last = None
        for attempt in range(attempts):
            args = [self.binary, "--listen", f"127.0.0.1:{self.port}",
                    "--admin-listen", "127.0.0.1:0", "--data-dir", self.data_dir] + self.extra_args
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, env=self.env)
            log.close()
            deadline = time.monotonic() + timeout
            line = b""
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                if line.startswith(b"admin on "):  # printed before "listening on"
                    self.admin_port = int(line.rsplit(b":", 1)[1])
                if line.startswith(b"listening on") or not line:
                    break
            if line.startswith(b"listening on"):
                self.starts += 1
                return
            code = self.proc.wait(timeout=30)
            self.proc.stdout.close()
            self.proc = None
            if code == 2:  # a configuration error: retrying will not help
                raise RuntimeError(f"courier-server refused its flags; see {self.log_path}")
            # The port may still be held by the killed process's sockets.
            time.sleep(0.5)
            if attempt > 5:
                self.port = free_port()
            last = code
        raise RuntimeError(f"courier-server did not start (last exit {last}); see {self.log_path}")

    def kill9(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None

    def stop(self):
        """SIGTERM; returns the exit status (0 is a clean stop)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        self.proc = None
        return code

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None


class Redis:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile",
             os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self, hard=False):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        self.proc.wait()
        self.proc = None


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs and os.path.exists(os.path.join(dirs[-1], "pg_ctl")) else None


class Postgres:
    def __init__(self, workdir):
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin")
        self.dir = os.path.join(workdir, "pg")
        self.port = free_port()
        self.root = os.getuid() == 0

    def _as_owner(self, args, **kw):
        if self.root:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, **kw)

    @property
    def url(self):
        return f"postgresql://courier@127.0.0.1:{self.port}/courier"

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir, 0o700)
            p = os.path.dirname(self.dir)
            while p != "/":
                os.chmod(p, os.stat(p).st_mode | 0o001)
                p = os.path.dirname(p)
        self._as_owner([os.path.join(self.bindir, "initdb"), "-D", f"{self.dir}/data", "-U",
                        "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        self._as_owner(["mkdir", "-p", f"{self.dir}/run"], check=True)
        self.start()
        psql = [os.path.join(self.bindir, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]
        subprocess.run(psql + ["-c", "CREATE ROLE courier LOGIN"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(psql + ["-c", "CREATE DATABASE courier OWNER courier"], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self):
        self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", f"{self.dir}/data", "-l",
                        f"{self.dir}/postgres.log", "-w", "-t", "60", "-o",
                        f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir}/run "
                        f"-c max_connections=100 -c fsync=on", "start"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    def stop(self, mode="fast"):
        self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", f"{self.dir}/data", "-m", mode,
                        "-w", "-t", "60", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
