"""The WebSocket protocol itself (RFC 6455), which courier-server speaks with
its own framing: the opening handshake, control frames, fragments, the close
handshake and the framing rules a client can break. Each broken rule gets its
close code and the server goes on serving others."""

import base64
import os
import socket
import struct
import time

import courier_wire as cw
from conftest import is_op, roundtrip_ping


def upgrade_request(srv, version="13", key=None, extra=""):
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    head = (f"GET /v1/ws HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\n")
    if key != "":
        head += f"Sec-WebSocket-Key: {key}\r\n"
    if version != "":
        head += f"Sec-WebSocket-Version: {version}\r\n"
    return (head + extra + "\r\n").encode()


def http_answer(sock, timeout=10.0):
    """(status, {lower-case header: value}, bytes after the head)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed during the answer: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


class RawReader:
    """Server frames, whole, from a socket: (fin, opcode, payload)."""

    def __init__(self, sock, buf=b""):
        self.sock, self.buf = sock, buf

    def frame(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            f = self._parse()
            if f is not None:
                return f
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                return "eof"
            if not chunk:
                return "eof"
            self.buf += chunk

    def _parse(self):
        b = self.buf
        if len(b) < 2:
            return None
        n, off = b[1] & 0x7F, 2
        assert not b[1] & 0x80, "server frames are never masked"
        assert not b[0] & 0x70, "no extension bits"
        if n == 126:
            if len(b) < 4:
                return None
            n, off = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, off = struct.unpack("!Q", b[2:10])[0], 10
        if len(b) < off + n:
            return None
        self.buf = b[off + n:]
        return bool(b[0] & 0x80), b[0] & 0x0F, b[off:off + n]

    def until(self, opcode, timeout=10.0):
        """Frames up to the first of `opcode`; returns (that frame, all before)."""
        seen = []
        while True:
            f = self.frame(timeout)
            if f is None or f == "eof" or f[1] == opcode:
                return f, seen
            seen.append(f)

    def eof(self, timeout=10.0):
        """True once the server has closed TCP (no frame after its close)."""
        return self.frame(timeout) == "eof"


def close_of(frame):
    fin, op, payload = frame
    assert fin and op == cw.OP_CLOSE, frame
    if not payload:
        return 1005, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def raw_session(srv, who, device="d1"):
    """A WebSocket past hello on a plain socket: (sock, reader)."""
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(upgrade_request(srv))
    status, _, rest = http_answer(s)
    assert status == 101
    s.sendall(cw.encode_frame(cw.OP_TEXT, '{"op":"hello","token":"%s","device":"%s"}' %
                              (who[1], device)))
    r = RawReader(s, rest)
    welcome, _ = r.until(cw.OP_TEXT)
    assert b'"welcome"' in welcome[2], welcome
    return s, r


def test_handshake_answers_the_rfc_accept_value(srv):
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(upgrade_request(srv, key="dGhlIHNhbXBsZSBub25jZQ=="))
    status, headers, _ = http_answer(s)
    assert status == 101
    assert headers["upgrade"].lower() == "websocket"
    assert headers["connection"].lower() == "upgrade"
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert "sec-websocket-extensions" not in headers  # permessage-deflate is never agreed
    s.close()


def test_handshake_with_another_version_is_426(srv):
    for version in ["8", "12", "14", ""]:
        s = socket.create_connection((srv.host, srv.port), timeout=10)
        s.sendall(upgrade_request(srv, version=version))
        status, headers, body = http_answer(s)
        assert status == 426, version
        assert headers.get("sec-websocket-version") == "13"
        assert b'"upgrade_required"' in body or b'"upgrade_required"' in s.recv(4096)
        s.close()
    assert srv.healthy_roundtrip()


def test_handshake_with_a_bad_key_is_400(srv):
    for key in ["", "abc", "!!!!!!!!!!!!!!!!!!!!!!==",
                base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"x" * 17).decode()]:
        s = socket.create_connection((srv.host, srv.port), timeout=10)
        s.sendall(upgrade_request(srv, key=key))
        status, _, body = http_answer(s)
        assert status == 400, key
        assert b'"bad_request"' in body or b'"bad_request"' in s.recv(4096)
        s.close()


def test_deflate_offer_is_ignored_and_frames_are_plain(srv):
    a = srv.user()
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(upgrade_request(
        srv, extra="Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"))
    status, headers, rest = http_answer(s)
    assert status == 101 and "sec-websocket-extensions" not in headers
    s.sendall(cw.encode_frame(cw.OP_TEXT, '{"op":"hello","token":"%s","device":"d1"}' % a[1]))
    f, _ = RawReader(s, rest).until(cw.OP_TEXT)
    assert b'"welcome"' in f[2]
    s.close()


def test_frames_sent_with_the_upgrade_request_are_served(srv):
    """A client that does not wait for the 101: its hello, a bad frame and a
    ping, in the same packet as the request, are read, not lost; welcome
    comes first (it waits for the store), then the connection's own answers
    in order."""
    a = srv.user()
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(upgrade_request(srv) +
              cw.encode_frame(cw.OP_TEXT, '{"op":"hello","token":"%s","device":"d1"}' % a[1]) +
              cw.encode_frame(cw.OP_TEXT, '{not json') +
              cw.encode_frame(cw.OP_TEXT, '{"op":"ping"}'))
    status, _, rest = http_answer(s)
    assert status == 101
    r = RawReader(s, rest)
    texts = []
    while b'{"op":"pong"}' not in texts:
        f = r.frame()
        assert f not in (None, "eof"), texts
        assert f[1] == cw.OP_TEXT
        texts.append(f[2])
    assert b'"welcome"' in texts[0], texts
    errors = [i for i, t in enumerate(texts) if b'"bad_frame"' in t]
    assert len(errors) == 1 and errors[0] < texts.index(b'{"op":"pong"}'), texts
    s.close()


def test_websocket_ping_is_answered_with_its_payload(srv):
    a = srv.user()
    s, r = raw_session(srv, a)
    for payload in [b"", b"abc", bytes(range(125))]:
        s.sendall(cw.encode_frame(cw.OP_PING, payload))
        pong, _ = r.until(cw.OP_PONG)
        assert pong not in (None, "eof") and pong[2] == payload
    # An unsolicited pong is allowed and ignored.
    s.sendall(cw.encode_frame(cw.OP_PONG, b"unasked"))
    s.sendall(cw.encode_frame(cw.OP_TEXT, '{"op":"ping"}'))
    f, _ = r.until(cw.OP_TEXT)
    assert f[2] == b'{"op":"pong"}'
    s.close()


def test_websocket_pings_keep_an_idle_connection_open(make_server):
    """Control frames count as frames for --idle-timeout-ms; without them
    the connection is closed 4408."""
    srv = make_server("--idle-timeout-ms", "1500")
    a = srv.user()
    s, r = raw_session(srv, a)
    for _ in range(8):  # 4 s, over twice the idle timeout
        s.sendall(cw.encode_frame(cw.OP_PING, b"alive"))
        pong, _ = r.until(cw.OP_PONG)
        assert pong not in (None, "eof"), "closed while pinging"
        time.sleep(0.5)
    f, _ = r.until(cw.OP_CLOSE, timeout=15)
    assert f not in (None, "eof") and close_of(f)[0] == 4408
    s.close()


def test_fragmented_message_with_a_control_frame_between(srv):
    a = srv.user()
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(upgrade_request(srv))
    status, _, rest = http_answer(s)
    assert status == 101
    hello = ('{"op":"hello","token":"%s","device":"d1"}' % a[1]).encode()
    parts = [hello[:5], hello[5:6], b"", hello[6:]]
    s.sendall(cw.encode_frame(cw.OP_TEXT, parts[0], fin=False) +
              cw.encode_frame(cw.OP_CONT, parts[1], fin=False) +
              cw.encode_frame(cw.OP_PING, b"between") +
              cw.encode_frame(cw.OP_CONT, parts[2], fin=False) +
              cw.encode_frame(cw.OP_CONT, parts[3], fin=True))
    r = RawReader(s, rest)
    pong, _ = r.until(cw.OP_PONG)
    assert pong[2] == b"between"
    f, _ = r.until(cw.OP_TEXT)
    assert b'"welcome"' in f[2]
    s.close()


def test_client_close_is_echoed_then_tcp_closes(srv):
    a = srv.user()
    for code, reason in [(1000, b"bye"), (4000, "é".encode() * 10), (None, b"")]:
        s, r = raw_session(srv, a)
        payload = b"" if code is None else struct.pack("!H", code) + reason
        s.sendall(cw.encode_frame(cw.OP_CLOSE, payload))
        f, _ = r.until(cw.OP_CLOSE)
        assert f not in (None, "eof")
        assert close_of(f)[0] == (1005 if code is None else code)
        assert r.eof()
        s.close()


def test_server_close_waits_for_the_client_close(make_server):
    """The server's close (here a second connection of the same device,
    4409) is a handshake: frames the client sends before its own close
    frame are dropped, then TCP goes."""
    srv = make_server()
    a = srv.user()
    s, r = raw_session(srv, a)
    other, _ = srv.session(a)  # same device d1: the first is closed 4409
    f, _ = r.until(cw.OP_CLOSE)
    assert close_of(f)[0] == 4409
    # Still open for our close frame; a frame sent now is not answered.
    s.sendall(cw.encode_frame(cw.OP_TEXT, '{"op":"ping"}'))
    s.sendall(cw.encode_frame(cw.OP_CLOSE, struct.pack("!H", 1000)))
    assert r.eof()
    s.close()
    other.close()


def test_broken_framing_closes_1002(srv):
    a = srv.user()
    cases = {
        "reserved opcode 3": bytes([0x83, 0x80]) + b"\0\0\0\0",
        "reserved opcode 0xB": bytes([0x8B, 0x80]) + b"\0\0\0\0",
        "RSV1 without an extension": bytes([0xC1, 0x80]) + b"\0\0\0\0",
        "fragmented ping": cw.encode_frame(cw.OP_PING, b"x", fin=False),
        "ping over 125 bytes": cw.encode_frame(cw.OP_PING, b"x" * 126),
        "continuation without a message": cw.encode_frame(cw.OP_CONT, b"x"),
        "text inside a fragmented text": cw.encode_frame(cw.OP_TEXT, b"x", fin=False) +
                                         cw.encode_frame(cw.OP_TEXT, b"y"),
        "close of one byte": cw.encode_frame(cw.OP_CLOSE, b"\x03"),
        "close code 1005 on the wire": cw.encode_frame(cw.OP_CLOSE, struct.pack("!H", 1005)),
        "close code 999": cw.encode_frame(cw.OP_CLOSE, struct.pack("!H", 999)),
        "64-bit length with its top bit": bytes([0x81, 0xFF]) + struct.pack("!Q", 1 << 63) +
                                          b"\0\0\0\0",
    }
    for name, data in cases.items():
        s, r = raw_session(srv, a)
        s.sendall(data)
        f, _ = r.until(cw.OP_CLOSE)
        assert f not in (None, "eof"), name
        assert close_of(f)[0] == 1002, name
        assert r.eof(), name
        s.close()
    assert srv.healthy_roundtrip()


def test_bad_utf8_in_a_close_reason_closes_1007(srv):
    a = srv.user()
    s, r = raw_session(srv, a)
    s.sendall(cw.encode_frame(cw.OP_CLOSE, struct.pack("!H", 1000) + b"\xc0\xaf"))
    f, _ = r.until(cw.OP_CLOSE)
    assert close_of(f)[0] == 1007
    s.close()


def test_utf8_split_across_fragments_is_one_message(srv):
    a, b = srv.user(), srv.user()
    srv.befriend(a, b)
    s, r = raw_session(srv, a)
    text = ('{"op":"send","cid":"frag","to":"%s","body":"caf\u00e9 \U0001F600"}' % b[0]).encode()
    cut = text.index(b"\xf0") + 2  # inside the 4-byte character
    s.sendall(cw.encode_frame(cw.OP_TEXT, text[:cut], fin=False) +
              cw.encode_frame(cw.OP_CONT, text[cut:]))
    while True:  # presence frames may come first
        f, _ = r.until(cw.OP_TEXT)
        assert f not in (None, "eof")
        if b'"sent"' in f[2]:
            break
        assert b'"error"' not in f[2], f
    s.close()


def test_a_burst_of_pipelined_frames_is_answered_in_order(srv):
    """Hundreds of frames in a few packets: every one is read, and the
    answers (written in batches) come back complete and in order."""
    a, b = srv.user(), srv.user()
    srv.befriend(a, b)
    ca, _ = srv.session(a)
    cb, _ = srv.session(b)
    n = 500
    burst = b"".join(cw.encode_frame(cw.OP_TEXT, '{"op":"send","cid":"b%d","to":"%s","body":"%s"}'
                                     % (i, b[0], "x" * (i % 300))) for i in range(n))
    ca.send_raw(burst)
    cids = []
    deadline = time.monotonic() + 60
    while len(cids) < n and time.monotonic() < deadline:
        ca.flush()
        m, _ = ca.recv_until(is_op("sent"), timeout=5)
        if m is not None:
            cids.append(m["cid"])
    assert cids == ["b%d" % i for i in range(n)]
    bodies = []
    while len(bodies) < n and time.monotonic() < deadline:
        m, _ = cb.recv_until(is_op("msg"), timeout=5)
        if m is not None:
            assert m["seq"] == len(bodies) + 1
            bodies.append(m["body"])
            cb.send_json({"op": "ack", "seq": m["seq"]})  # the window is 256
    assert bodies == ["x" * (i % 300) for i in range(n)]
    assert roundtrip_ping(ca) is not None
    ca.close()
    cb.close()
