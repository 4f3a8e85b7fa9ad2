"""Fixtures: courier-server processes on free ports, each on its own data dir.

COURIER_SERVER names the binary (ctest sets it); without it the newest
courier-server in the build directories is used. Every server a test starts
is stopped with SIGTERM at the end, and its exit status must be 0.

Run: `ctest -R protocol` in a build dir, or by hand
  COURIER_SERVER=BUILD/examples/server/courier-server \
    /usr/bin/python3 -m pytest -q tests/protocol
(Debian packages: python3-pytest, python3-websocket; openssl for the TLS test.)
"""

import os
import secrets
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import courier_proto as cp  # noqa: E402

# Sends in the shared server are not what these tests limit; the rate limiter
# has its own server in test_limits.py.
FAST_RATE = "1000000/1"


@pytest.fixture(scope="session")
def server_binary():
    binary = cp.find_server_binary()
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail("courier-server not found: set COURIER_SERVER to the binary "
                    "(ctest does) or build it into a build*/ or /tmp/build-*/ dir",
                    pytrace=False)
    return binary


@pytest.fixture(scope="session")
def jwt_secret(tmp_path_factory):
    """(path, bytes) of a token key the tests also know, to mint tokens."""
    path = tmp_path_factory.mktemp("keys") / "jwt.key"
    key = secrets.token_bytes(48)
    path.write_bytes(key)
    return path, key


class ServerFactory:
    def __init__(self, binary, tmp_path_factory):
        self.binary = binary
        self.tmp = tmp_path_factory
        self.servers = []

    def __call__(self, args=(), env=None, data_dir=None, name="srv"):
        if data_dir is None:
            data_dir = self.tmp.mktemp(name) / "data"
        s = cp.Server(self.binary, data_dir, args=args, env=env)
        self.servers.append(s)
        return s.start()

    def stop_all(self):
        bad = []
        for s in self.servers:
            if s.proc is not None:
                code = s.stop(signal.SIGTERM)
                if code != 0:
                    bad.append((s.data_dir, code, s.log_tail()))
        self.servers.clear()
        return bad


@pytest.fixture(scope="session")
def server(server_binary, jwt_secret, tmp_path_factory):
    """The shared server: fast rate limit, a token key the tests know."""
    factory = ServerFactory(server_binary, tmp_path_factory)
    s = factory(["--rate-limit", FAST_RATE, "--jwt-secret-file", str(jwt_secret[0])],
                name="main")
    s.token_key = jwt_secret[1]
    yield s
    bad = factory.stop_all()
    assert not bad, f"shared courier-server did not exit 0 on SIGTERM: {bad}"


@pytest.fixture
def make_server(server_binary, tmp_path_factory):
    """Starts extra servers for one test; each must exit 0 on SIGTERM at the end."""
    factory = ServerFactory(server_binary, tmp_path_factory)
    yield factory
    bad = factory.stop_all()
    assert not bad, f"courier-server did not exit 0 on SIGTERM: {bad}"


@pytest.fixture
def pair(server):
    """Two fresh users who are friends: (alice, bob)."""
    a, b = server.new_users("alice", "bob")
    server.befriend(a, b)
    return a, b


@pytest.fixture(scope="module")
def shared_pair(server):
    """Two friends shared by a module's tests that leave no state that matters
    (bad frames, bad hellos): saves the password hashing of fresh users."""
    a, b = server.new_users("alice", "bob")
    server.befriend(a, b)
    return a, b
