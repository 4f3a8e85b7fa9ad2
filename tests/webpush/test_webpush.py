"""courier::webpush against independent code (issue 16, item 5).

The encryption is decrypted, and the VAPID token verified, by code written
here from RFC 8291, RFC 8188 and RFC 8292 with Debian's python3-cryptography;
the senders talk to real HTTP(S) receivers on loopback standing in for a push
service and a webhook gateway. Drives build/.../webpush_tool (WEBPUSH_TOOL).
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import socket
import stat
import struct
import subprocess
import threading
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOOL = os.environ.get("WEBPUSH_TOOL", "webpush_tool")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt_aes128gcm(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """The user agent's side: RFC 8188 section 2 framing, RFC 8291 section 3.4 keys."""
    salt, rs, idlen = body[:16], struct.unpack(">I", body[16:20])[0], body[20]
    assert idlen == 65, "keyid must be the sender's 65-byte public key"
    as_public_raw = body[21:21 + idlen]
    records = body[21 + idlen:]
    assert rs >= 18
    as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public_raw)
    ua_public_raw = ua_private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    ecdh_secret = ua_private.exchange(ec.ECDH(), as_public)
    ikm = hkdf(auth, ecdh_secret, b"WebPush: info\x00" + ua_public_raw + as_public_raw, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    plaintext = b""
    seq = 0
    while records:
        record, records = records[:rs], records[rs:]
        iv = (int.from_bytes(nonce, "big") ^ seq).to_bytes(12, "big")
        padded = AESGCM(cek).decrypt(iv, record, None)
        content = padded.rstrip(b"\x00")
        last = not records
        assert content[-1:] == (b"\x02" if last else b"\x01"), "bad padding delimiter"
        plaintext += content[:-1]
        seq += 1
    return plaintext


def verify_vapid(header: str, audience: str, now: int):
    """RFC 8292: t is an ES256 JWT for `audience`, k its uncompressed P-256 key."""
    assert header.startswith("vapid ")
    params = dict(part.strip().split("=", 1) for part in header[len("vapid "):].split(","))
    token, key_b64 = params["t"], params["k"]
    key_raw = unb64u(key_b64)
    assert len(key_raw) == 65 and key_raw[0] == 4
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_raw)
    head_b64, claims_b64, sig_b64 = token.split(".")
    assert json.loads(unb64u(head_b64)) == {"typ": "JWT", "alg": "ES256"}
    sig = unb64u(sig_b64)
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(unb64u(claims_b64))
    assert claims["aud"] == audience
    assert now < claims["exp"] <= now + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https:"))
    return claims, key_b64, public, der, f"{head_b64}.{claims_b64}".encode()


def new_user_agent():
    private = ec.generate_private_key(ec.SECP256R1())
    public_raw = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return private, b64u(public_raw), os.urandom(16)


def run_tool(*args, stdin=b""):
    out = subprocess.run([TOOL, *args], input=stdin, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode().strip()


# ---- encryption ----

RFC = {
    "plaintext": b"When I grow up, I want to be a watermelon",
    "ua_private": "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    "auth": "BTBZMqHH6r4Tts7J_aSIgg",
    "body": "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vC"
            "YLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXL"
            "WyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}


def test_python_decryptor_opens_the_rfc_8291_example():
    # Checks the independent decryptor itself against RFC 8291 section 5.
    ua = ec.derive_private_key(int.from_bytes(unb64u(RFC["ua_private"]), "big"), ec.SECP256R1())
    assert decrypt_aes128gcm(unb64u(RFC["body"]), ua, unb64u(RFC["auth"])) == RFC["plaintext"]


@pytest.mark.parametrize("plaintext", [b"", b"x", b'{"from":"alice","count":3}',
                                       os.urandom(1000), b"z" * 3993])
def test_fresh_encryption_decrypts_independently(plaintext):
    ua, p256dh, auth = new_user_agent()
    body = unb64u(run_tool("encrypt", p256dh, b64u(auth), stdin=plaintext))
    assert len(body) == 86 + len(plaintext) + 17 <= 4096
    assert decrypt_aes128gcm(body, ua, auth) == plaintext


def test_each_message_has_a_fresh_salt_and_key():
    ua, p256dh, auth = new_user_agent()
    a = unb64u(run_tool("encrypt", p256dh, b64u(auth), stdin=b"same"))
    b = unb64u(run_tool("encrypt", p256dh, b64u(auth), stdin=b"same"))
    assert a[:16] != b[:16] and a[21:86] != b[21:86]
    assert decrypt_aes128gcm(a, ua, auth) == decrypt_aes128gcm(b, ua, auth) == b"same"


def test_wrong_auth_secret_does_not_decrypt():
    ua, p256dh, auth = new_user_agent()
    body = unb64u(run_tool("encrypt", p256dh, b64u(auth), stdin=b"secret"))
    with pytest.raises(Exception):
        decrypt_aes128gcm(body, ua, os.urandom(16))


def test_payload_over_the_limit_is_refused():
    _, p256dh, auth = new_user_agent()
    out = subprocess.run([TOOL, "encrypt", p256dh, b64u(auth)], input=b"z" * 3994,
                         capture_output=True, timeout=60)
    assert out.returncode == 1 and b"3993" in out.stderr


# ---- VAPID ----

def test_vapid_token_verifies_and_key_file_is_private(tmp_path):
    key_file = tmp_path / "vapid.pem"
    now = int(time.time())
    header = run_tool("vapid", str(key_file), "https://Push.Example.net:443/wpush/v2/abc?x=1",
                      "mailto:ops@example.com", str(now))
    claims, k, public, der, signed = verify_vapid(header, "https://push.example.net", now)
    assert claims["sub"] == "mailto:ops@example.com"
    assert claims["exp"] == now + 12 * 3600
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # The file holds the private half of k.
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint) == unb64u(k)
    # A flipped bit of the signed part fails verification (the check is real).
    tampered = bytearray(signed)
    tampered[-1] ^= 1
    with pytest.raises(InvalidSignature):
        public.verify(der, bytes(tampered), ec.ECDSA(hashes.SHA256()))
    # Loaded again, same key; a non-default port stays in the audience.
    header2 = run_tool("vapid", str(key_file), "https://push.example.net:8443/x",
                       "https://example.com/contact", str(now))
    claims2, k2, *_ = verify_vapid(header2, "https://push.example.net:8443", now)
    assert k2 == k and claims2["sub"] == "https://example.com/contact"


def test_vapid_key_file_from_openssl_is_accepted(tmp_path):
    key_file = tmp_path / "openssl.pem"
    private = ec.generate_private_key(ec.SECP256R1())
    key_file.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    header = run_tool("vapid", str(key_file), "https://push.example.net/x", "mailto:a@b.c", "1800000000")
    _, k, *_ = verify_vapid(header, "https://push.example.net", 1800000000)
    assert unb64u(k) == private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def test_vapid_refuses_a_bad_key_file_and_keeps_it(tmp_path):
    key_file = tmp_path / "bad.pem"
    key_file.write_text("not a key\n")
    out = subprocess.run([TOOL, "vapid", str(key_file), "https://p.example/x", "mailto:a@b.c", "0"],
                         capture_output=True, timeout=60)
    assert out.returncode == 1 and b"INVALID_ARGUMENT" in out.stderr
    assert key_file.read_text() == "not a key\n"


# ---- a push service on loopback ----

class Receiver:
    """A scripted HTTP(S) server: each request takes the next response of
    `script` (the last one repeats); every request is recorded."""

    def __init__(self, script, tls_context=None):
        self.script = list(script)
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append((time.monotonic(), dict(self.headers), body, self.path))
                    index = min(len(receiver.requests), len(receiver.script)) - 1
                    step = receiver.script[index]
                status, headers = step[0], step[1] if len(step) > 1 else {}
                delay = step[2] if len(step) > 2 else 0
                time.sleep(delay)
                try:
                    if status == "huge":
                        self.wfile.write(b"HTTP/1.1 201 Created\r\nX-Pad: " + b"a" * 40000 + b"\r\n\r\n")
                        return
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(script, tls_context=None):
        r = Receiver(script, tls_context)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def key_file(tmp_path):
    return str(tmp_path / "vapid.pem")


def send(endpoint, ua_pub, auth, key_file, payload=b"{}", *options):
    return json.loads(run_tool("send", endpoint, ua_pub, b64u(auth), key_file, *options,
                               stdin=payload))


def test_201_is_delivered_with_rfc_8030_headers(receiver, key_file):
    r = receiver([(201, {"Location": "/m/1"})])
    ua, p256dh, auth = new_user_agent()
    now = int(time.time())
    result = send(f"http://127.0.0.1:{r.port}/push/abc?q=1", p256dh, auth, key_file,
                  b'{"from":"alice","count":2}', "ttl=600", "urgency=high", "topic=dev-1")
    assert result["status"] == "OK" and result["outcome"] == "delivered"
    assert result["attempts"] == 1 and result["http_status"] == 201
    assert len(r.requests) == 1
    _, headers, body, path = r.requests[0]
    assert path == "/push/abc?q=1"
    assert headers["TTL"] == "600" and headers["Urgency"] == "high" and headers["Topic"] == "dev-1"
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Content-Type"] == "application/octet-stream"
    verify_vapid(headers["Authorization"], f"http://127.0.0.1:{r.port}", now - 1)
    assert decrypt_aes128gcm(body, ua, auth) == b'{"from":"alice","count":2}'


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_are_gone_without_retry(receiver, key_file, status):
    r = receiver([(status,)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x", "backoff_ms=10")
    assert result["outcome"] == "gone" and result["attempts"] == 1 and len(r.requests) == 1


def test_429_honours_retry_after_then_delivers(receiver, key_file):
    r = receiver([(429, {"Retry-After": "1"}), (201,)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x", "backoff_ms=10")
    assert result["outcome"] == "delivered" and result["attempts"] == 2
    headers = r.requests[0][1]  # the defaults: a day, normal urgency, no topic
    assert headers["TTL"] == "86400" and headers["Urgency"] == "normal" and "Topic" not in headers
    gap = r.requests[1][0] - r.requests[0][0]
    assert 0.9 <= gap < 5, gap


def test_5xx_are_retried_with_backoff_then_delivered(receiver, key_file):
    r = receiver([(500,), (503,), (201,)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x",
                  "backoff_ms=200", "backoff_cap_ms=1000")
    assert result["outcome"] == "delivered" and result["attempts"] == 3
    gaps = [r.requests[i + 1][0] - r.requests[i][0] for i in range(2)]
    # Waits of base * 2^(n-1), jittered to [50%, 100%]: 100-200 ms, then 200-400 ms.
    assert 0.09 <= gaps[0] < 3 and 0.19 <= gaps[1] < 3, gaps


def test_persistent_503_gives_up_after_max_attempts(receiver, key_file):
    r = receiver([(503,)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x",
                  "backoff_ms=10", "max_attempts=3")
    assert result["outcome"] == "gave_up" and result["attempts"] == 3
    assert result["http_status"] == 503 and len(r.requests) == 3


def test_retry_after_over_the_limit_gives_up_at_once(receiver, key_file):
    r = receiver([(503, {"Retry-After": "3600"}), (201,)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x")
    assert result["outcome"] == "gave_up" and result["attempts"] == 1 and len(r.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 413, 301])
def test_other_answers_give_up_without_retry(receiver, key_file, status):
    r = receiver([(status, {"Location": "http://127.0.0.1:1/elsewhere"}), (201,)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x", "backoff_ms=10")
    assert result["outcome"] == "gave_up" and result["attempts"] == 1
    assert result["http_status"] == status and len(r.requests) == 1


def test_down_receiver_is_retried_then_given_up(key_file):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{port}/p", p256dh, auth, key_file, b"x",
                  "backoff_ms=10", "max_attempts=3")
    assert result["outcome"] == "gave_up" and result["attempts"] == 3
    assert result["http_status"] == 0 and "connect" in result["detail"]


def test_slow_receiver_times_out(receiver, key_file):
    r = receiver([(201, {}, 3)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x",
                  "read_ms=300", "backoff_ms=10", "max_attempts=2")
    assert result["outcome"] == "gave_up" and result["attempts"] == 2
    assert "timed out" in result["detail"]
    assert result["ms"] < 2500, result


def test_oversized_answer_head_is_not_read_whole(receiver, key_file):
    r = receiver([("huge",)])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x",
                  "backoff_ms=10", "max_attempts=2")
    assert result["outcome"] == "gave_up" and "larger than 16384" in result["detail"]


def test_plain_http_is_refused_for_a_non_loopback_endpoint(key_file):
    _, p256dh, auth = new_user_agent()
    result = send("http://push.example.net/p", p256dh, auth, key_file, b"x")
    assert result["status"] == "INVALID_ARGUMENT" and "https" in result["message"]


def test_a_private_address_is_refused_by_default_without_a_connection(receiver, key_file):
    r = receiver([(201, {})])
    _, p256dh, auth = new_user_agent()
    result = send(f"http://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x",
                  "allow_private=0", "max_attempts=3")
    assert result["status"] == "OK" and result["outcome"] == "gave_up", result
    assert result["attempts"] == 1, "refused at once, not retried"
    assert "not a public address" in result["detail"] and "127.0.0.1" in result["detail"]
    assert r.requests == []
    # A name that resolves to loopback is judged by its address, not its name.
    result = send(f"http://localhost:{r.port}/p", p256dh, auth, key_file, b"x", "allow_private=0")
    assert result["outcome"] == "gave_up" and "not a public address" in result["detail"], result
    assert r.requests == []


def test_a_name_that_does_not_resolve_gives_up_within_the_resolve_timeout(key_file):
    _, p256dh, auth = new_user_agent()
    start = time.monotonic()
    result = send("https://push.invalid/p", p256dh, auth, key_file, b"x", "resolve_ms=300",
                  "max_attempts=1")
    assert result["status"] == "OK" and result["outcome"] == "gave_up", result
    assert "resolve push.invalid" in result["detail"], result
    assert time.monotonic() - start < 20


# ---- TLS ----

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=courier-test", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    return ctx, str(d / "cert.pem")


def test_https_endpoint_with_a_trusted_ca_is_delivered(receiver, key_file, tls_files):
    ctx, cert = tls_files
    r = receiver([(201,)], tls_context=ctx)
    ua, p256dh, auth = new_user_agent()
    result = send(f"https://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"over tls",
                  f"ca_file={cert}")
    assert result["outcome"] == "delivered", result
    assert decrypt_aes128gcm(r.requests[0][2], ua, auth) == b"over tls"


def test_https_endpoint_with_an_untrusted_certificate_gives_up_at_once(receiver, key_file, tls_files):
    ctx, _ = tls_files
    r = receiver([(201,)], tls_context=ctx)
    _, p256dh, auth = new_user_agent()
    result = send(f"https://127.0.0.1:{r.port}/p", p256dh, auth, key_file, b"x", "backoff_ms=10")
    assert result["outcome"] == "gave_up" and result["attempts"] == 1
    assert "does not verify" in result["detail"] and not r.requests


# ---- webhook ----

SECRET = "0123456789abcdef-webhook-secret"


def check_signature(headers, body):
    ts = headers["X-Courier-Timestamp"]
    assert ts.isdigit() and abs(int(ts) - time.time()) < 60
    want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Courier-Signature"], want)
    return ts


def test_webhook_is_signed_and_delivered(receiver):
    r = receiver([(200,)])
    body = b'{"user":"bob","device":"phone","from":"alice","count":1}'
    result = json.loads(run_tool("webhook", f"http://127.0.0.1:{r.port}/hook", SECRET, stdin=body))
    assert result["outcome"] == "delivered" and result["attempts"] == 1
    _, headers, got, path = r.requests[0]
    assert path == "/hook" and got == body
    assert headers["Content-Type"] == "application/json"
    check_signature(headers, got)
    # A changed body does not verify under the same header.
    with pytest.raises(AssertionError):
        check_signature(headers, body.replace(b"bob", b"eve"))


def test_webhook_retries_with_a_fresh_signature_and_reports_gone(receiver):
    r = receiver([(503, {"Retry-After": "1"}), (204,)])
    result = json.loads(run_tool("webhook", f"http://127.0.0.1:{r.port}/hook", SECRET,
                                 stdin=b'{"count":2}'))
    assert result["outcome"] == "delivered" and result["attempts"] == 2
    for _, headers, body, _ in r.requests:
        check_signature(headers, body)
    r2 = receiver([(410,)])
    result = json.loads(run_tool("webhook", f"http://127.0.0.1:{r2.port}/hook", SECRET, stdin=b"{}"))
    assert result["outcome"] == "gone" and result["attempts"] == 1


def test_webhook_refuses_a_short_secret():
    result = json.loads(run_tool("webhook", "http://127.0.0.1:9/hook", "short", stdin=b"{}"))
    assert result["status"] == "INVALID_ARGUMENT" and "secret" in result["message"]
