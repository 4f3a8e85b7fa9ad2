"""services: the Redis and PostgreSQL the chaos driver runs and breaks.

Private instances on fixed loopback ports, stopped and started in place
(the server keeps its URLs). Postgres runs as the `postgres` user when we
are root, like tests/services/postgres.sh. The courier-server processes
(courier_server.RestartableServer) and the client (courier_wire) are in
tests/pylib.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

from courier_server import free_port, port_open  # noqa: E402


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
