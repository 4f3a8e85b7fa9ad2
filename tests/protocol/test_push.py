"""Push notifications (docs/PROTOCOL.md "Push"): a real HTTP receiver on
loopback stands in for the push service. It decrypts what it gets (RFC 8291
aes128gcm, written here from the RFC with Python's cryptography) and checks
the VAPID token (RFC 8292), so the server's payload is read by an
implementation independent of courier::webpush.

Covered: an offline device gets its pushes and an online one none, a burst
is coalesced, 410 removes the subscription, a failing or down receiver is
retried then given up and counted, the webhook's signature verifies, and
bad subscription bodies get 400 with a clear error. Each test runs its own
server (the counters in /metrics are per server)."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest
# Debian's python3-cryptography (cmake/install-deps.sh).
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HOLD_MS = 300


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


class Device:
    """A browser's push subscription: a P-256 key pair and an auth secret."""

    def __init__(self, endpoint):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.auth = os.urandom(16)
        self.endpoint = endpoint

    def subscription(self):
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64u(self.public), "auth": b64u(self.auth)}}

    def decrypt(self, body):
        """RFC 8291 section 3 and RFC 8188: one aes128gcm record."""
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        assert rs >= 18 and idlen == 65, (rs, idlen)
        server_public = body[21:21 + idlen]
        ciphertext = body[21 + idlen:]
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_public)
        secret = self.key.exchange(ec.ECDH(), peer)
        ikm = hkdf(self.auth, secret, b"WebPush: info\x00" + self.public + server_public, 32)
        cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
        assert padded.endswith(b"\x02"), "the last record ends with delimiter 2"
        return json.loads(padded[:-1])


def check_vapid(authorization, origin):
    """The Authorization header is "vapid t=JWT, k=KEY" with a valid ES256
    JWT for `origin` signed by KEY."""
    m = re.fullmatch(r"vapid t=([^,\s]+),\s*k=(\S+)", authorization)
    assert m, authorization
    token, key = m.group(1), m.group(2)
    header, claims, signature = token.split(".")
    assert json.loads(unb64u(header))["alg"] == "ES256"
    body = json.loads(unb64u(claims))
    assert body["aud"] == origin
    assert body["exp"] > time.time()
    assert body["sub"].startswith(("mailto:", "https:"))
    raw = unb64u(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(key))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    return key


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with
    the status set for its path (201 by default)."""

    def __init__(self):
        self.requests = []
        self.status = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    code = receiver.status.get(self.path, 201)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.origin + path

    def to(self, path):
        with self.lock:
            return [r for r in self.requests if r[0] == path]

    def wait(self, path, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(path)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.to(path))} requests to {path}, waited for {n}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def push_server(make_server, *extra, allow_private=True):
    """A server that pushes; the receivers here are on loopback, which a
    server refuses to push to unless told (--push-allow-private-addresses)."""
    flags = ["--rate-limit", "1000000/1", "--push-hold-ms", str(HOLD_MS)]
    if allow_private:
        flags.append("--push-allow-private-addresses")
    return make_server(flags + list(extra), name="push")


def metrics(s):
    r = s.admin_http("GET", "/metrics", token="")
    assert r.status == 200
    out = {}
    for line in r.text.splitlines():
        if line.startswith("courier_push_"):
            name, value = line.split(" ")
            out[name] = float(value)
    return out


def wait_metric(s, name, at_least, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metrics(s).get(name, 0) >= at_least:
            return metrics(s)
        time.sleep(0.1)
    raise AssertionError(f"{name} stayed below {at_least}: {metrics(s)}")


def subscribe(s, user, device_name, device):
    r = s.http("PUT", f"/v1/devices/{device_name}/push", device.subscription(), token=user.token)
    assert r.status == 200, r
    assert r.json()["status"] == "subscribed"


def unsubscribe_then_nothing(s, sender, user, receiver, path, expected_status):
    """DELETEs user's "phone" subscription (answering `expected_status`);
    the next message pushes nothing more to `path`."""
    before = len(receiver.to(path))
    r = s.http("DELETE", "/v1/devices/phone/push", token=user.token)
    assert r.status == 200 and r.json()["status"] == expected_status, r
    assert sender.message(user.name, "after")["op"] == "sent"
    wait_metric(s, "courier_push_no_subscription_total", 1)
    assert len(receiver.to(path)) == before


def test_offline_device_gets_pushes_online_one_none(make_server, receiver):
    s = push_server(make_server)
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    r = s.http("GET", "/v1/push/vapid-public-key")
    assert r.status == 200, r
    server_key = r.json()["public_key"]
    assert len(unb64u(server_key)) == 65
    phone = Device(receiver.url("/phone"))
    subscribe(s, bob, "phone", phone)

    a = s.connect(alice, "a1")
    assert a.message(bob.name, "first")["op"] == "sent"
    (path, headers, body), = receiver.wait("/phone", 1)
    assert headers["Content-Encoding"] == "aes128gcm"
    assert int(headers["TTL"]) > 0
    assert headers.get("Topic")
    assert check_vapid(headers["Authorization"], receiver.origin) == server_key
    payload = phone.decrypt(body)
    assert payload == {"type": "inbox", "user": bob.name, "count": 1, "senders": [alice.name]}

    # bob connects on another device: online on this node, no more pushes.
    b = s.connect(bob, "laptop")
    assert a.message(bob.name, "second")["op"] == "sent"
    b.next_event()
    time.sleep(HOLD_MS / 1000 + 1.0)
    assert len(receiver.to("/phone")) == 1
    m = wait_metric(s, "courier_push_skipped_online_total", 1)
    assert m["courier_push_sent_total"] == 1
    assert m["courier_push_messages_total"] == 2

    # Unsubscribed: nothing more, even offline.
    b.close()
    unsubscribe_then_nothing(s, a, bob, receiver, "/phone", "unsubscribed")


def test_a_burst_is_coalesced(make_server, receiver):
    s = push_server(make_server)
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    phone = Device(receiver.url("/phone"))
    subscribe(s, bob, "phone", phone)
    a = s.connect(alice, "a1")
    cids = [a.send_msg(bob.name, f"m{i}") for i in range(100)]
    for _ in cids:
        a.wait_op("sent")
    m = wait_metric(s, "courier_push_messages_total", 100)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = receiver.to("/phone")
        if sum(phone.decrypt(b)["count"] for _, _, b in got) == 100:
            break
        time.sleep(0.1)
    got = receiver.to("/phone")
    counts = [phone.decrypt(b)["count"] for _, _, b in got]
    assert sum(counts) == 100, counts
    assert 1 <= len(got) <= 5, f"100 messages gave {len(got)} pushes: {counts}"
    m = metrics(s)
    assert m["courier_push_coalesced_total"] == 100 - m["courier_push_notices_total"]
    assert m["courier_push_dropped_total"] == 0


def test_410_removes_the_subscription(make_server, receiver):
    s = push_server(make_server)
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    receiver.status["/gone"] = 410
    subscribe(s, bob, "phone", Device(receiver.url("/gone")))
    a = s.connect(alice, "a1")
    assert a.message(bob.name, "hello")["op"] == "sent"
    receiver.wait("/gone", 1)
    m = wait_metric(s, "courier_push_gone_total", 1)
    assert m["courier_push_sent_total"] == 0
    # The subscription is no longer stored: deleting it finds nothing.
    unsubscribe_then_nothing(s, a, bob, receiver, "/gone", "not_subscribed")


def test_a_failing_or_down_receiver_is_retried_then_given_up(make_server, receiver):
    s = push_server(make_server, "--push-max-attempts", "3")
    alice, bob, carol = s.new_users("alice", "bob", "carol")
    s.befriend(alice, bob)
    s.befriend(alice, carol)
    receiver.status["/busy"] = 503
    subscribe(s, bob, "phone", Device(receiver.url("/busy")))
    with socket.socket() as sock:  # a port where nobody listens
        sock.bind(("127.0.0.1", 0))
        down_port = sock.getsockname()[1]
    subscribe(s, carol, "phone", Device(f"http://127.0.0.1:{down_port}/down"))
    a = s.connect(alice, "a1")
    assert a.message(bob.name, "hello")["op"] == "sent"
    assert a.message(carol.name, "hello")["op"] == "sent"
    receiver.wait("/busy", 3)
    m = wait_metric(s, "courier_push_failed_total", 2, timeout=40)
    assert len(receiver.to("/busy")) == 3, "max attempts, no more"
    assert m["courier_push_sent_total"] == 0
    # A failure keeps the subscription (only 404/410 delete it).
    r = s.http("DELETE", "/v1/devices/phone/push", token=bob.token)
    assert r.json()["status"] == "unsubscribed", r


def test_a_push_to_a_private_address_is_refused_by_default(make_server, receiver):
    # The endpoint is the user's choice: without the flag, a subscription that
    # points at loopback (the server's own admin port, say) gets no request.
    s = push_server(make_server, "--push-max-attempts", "3", allow_private=False)
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    subscribe(s, bob, "phone", Device(receiver.url("/inside")))
    a = s.connect(alice, "a1")
    assert a.message(bob.name, "hello")["op"] == "sent"
    m = wait_metric(s, "courier_push_failed_total", 1, timeout=40)
    assert m["courier_push_sent_total"] == 0
    assert receiver.to("/inside") == [], "no connection to a private address"
    # Given up at once, not retried (3 attempts allowed), and the log says why.
    log = s.log_path.read_text("utf-8", "replace")
    refused = [line for line in log.splitlines() if "not a public address" in line]
    assert len(refused) == 1, log[-2000:]
    assert "attempts=1" in refused[0] and "127.0.0.1" in refused[0]


def test_the_webhook_is_signed(make_server, receiver, tmp_path):
    secret = os.urandom(32)
    secret_file = tmp_path / "hook.key"
    secret_file.write_bytes(secret)
    # The push flags are --config keys too.
    config = tmp_path / "courier.toml"
    config.write_text(f'push-webhook = "{receiver.url("/hook")}"\n'
                      f'push-webhook-secret-file = "{secret_file}"\n'
                      'push-content = "full"\n')
    s = push_server(make_server, "--config", str(config))
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    a = s.connect(alice, "a1")
    assert a.message(bob.name, "see you at 8")["op"] == "sent"
    (path, headers, body), = receiver.wait("/hook", 1)
    assert headers["Content-Type"] == "application/json"
    ts = headers["X-Courier-Timestamp"]
    assert abs(int(ts) - time.time()) < 60
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Courier-Signature"], expected)
    payload = json.loads(body)
    assert payload["user"] == bob.name
    assert payload["count"] == 1
    assert payload["senders"] == [alice.name]
    assert [m["body"] for m in payload["messages"]] == ["see you at 8"]
    assert payload["messages"][0]["from"] == alice.name


def test_bad_subscription_bodies_get_400(make_server, receiver):
    s = push_server(make_server)
    bob, = s.new_users("bob")
    good = Device(receiver.url("/phone")).subscription()

    def put(body, device="phone", raw=None, token=bob.token):
        if raw is not None:
            return s.http("PUT", f"/v1/devices/{device}/push", raw=raw, token=token)
        return s.http("PUT", f"/v1/devices/{device}/push", body, token=token)

    cases = {
        "not json": put(None, raw="{not json"),
        "no endpoint": put({"keys": good["keys"]}),
        "no keys": put({"endpoint": good["endpoint"]}),
        "plain http off loopback": put(dict(good, endpoint="http://push.example.net/x")),
        "p256dh not a point": put(dict(good, keys={"p256dh": b64u(b"\x04" + b"\x01" * 64),
                                                   "auth": good["keys"]["auth"]})),
        "auth of 15 bytes": put(dict(good, keys={"p256dh": good["keys"]["p256dh"],
                                                 "auth": b64u(b"x" * 15)})),
        "too long": put(dict(good, endpoint="https://push.example.net/" + "a" * 5000)),
    }
    for what, r in cases.items():
        assert r.status == 400, f"{what}: {r}"
        assert r.json()["error"] == "bad_subscription", f"{what}: {r}"
        assert r.json()["message"], f"{what}: no message"
    r = put(good, device="bad*device")
    assert r.status in (400, 404), r
    assert put(good, token="nope").status == 401
    assert s.http("GET", "/v1/devices/phone/push", token=bob.token).status == 405
    assert put(good).status == 200


def cli_binary(server_binary):
    """courier-cli: COURIER_CLI, else next to courier-server in the build."""
    path = os.environ.get("COURIER_CLI") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(server_binary))), "examples", "cli",
        "courier-cli")
    return path if os.access(path, os.X_OK) else None


def test_the_cli_registers_a_receiver(make_server, receiver, server_binary, tmp_path):
    cli = cli_binary(server_binary)
    if cli is None:
        pytest.skip("courier-cli not built")
    s = push_server(make_server)
    alice, bob = s.new_users("alice", "bob")
    s.befriend(alice, bob)
    password = tmp_path / "pw"
    password.write_text(bob.password + "\n")
    base = [cli, "--server", f"ws://127.0.0.1:{s.port}", "--token-file", str(tmp_path / "tok")]
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    out = subprocess.run(base + ["login", bob.name, "--password-file", str(password)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(base + ["push-subscribe", "--endpoint", receiver.url("/cli"),
                                 "--device", "tab"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["status"] == "subscribed" and made["device"] == "tab"
    # The keys it printed decrypt what the server pushes.
    device = Device(receiver.url("/cli"))
    device.key = serialization.load_pem_private_key(made["private_key_pem"].encode(), None)
    device.public = unb64u(made["p256dh"])
    device.auth = unb64u(made["auth"])
    a = s.connect(alice, "a1")
    assert a.message(bob.name, "hi")["op"] == "sent"
    (_, _, body), = receiver.wait("/cli", 1)
    assert device.decrypt(body)["senders"] == [alice.name]
    out = subprocess.run(base + ["push-unsubscribe", "--device", "tab"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["status"] == "unsubscribed", out
