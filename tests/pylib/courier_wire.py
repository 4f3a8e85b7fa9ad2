"""courier_wire: a small client for courier-server over raw sockets.

A WebSocket client (RFC 6455, text frames, masking, fragments, close codes)
and an HTTP/1.1 helper, written on plain sockets so that the chaos driver and
the abuse tests control every byte: frames the server must refuse, sockets
that stop reading, connections cut without a close. Used by tests/chaos and
tests/abuse; nothing here depends on tests/protocol.
"""

import base64
import json
import os
import select
import socket
import struct
import time

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class WireError(Exception):
    """The connection failed or the peer broke the protocol."""


def encode_frame(opcode, payload, fin=True, mask=True, length_override=None):
    """One client frame; `length_override` writes a lying length field."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length_override is None else length_override
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 \
        else _mask_fast(payload, key)
    return head + key + masked


def _mask_fast(payload, key):
    k = int.from_bytes(key * ((len(payload) + 3) // 4), "big") >> (8 * ((-len(payload)) % 4))
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


def http_request(host, port, method, path, body=None, headers=None, timeout=30.0):
    """(status, headers dict lower-cased, body bytes) of one request on a fresh socket."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    body = body or b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Content-Type: application/json")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(raw)
        return read_http_response(s, timeout)


def read_http_response(sock, timeout=30.0):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise WireError(f"connection closed before the response head: {data[:200]!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        rest = rest[:n]
    else:
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            rest += chunk
    return status, hdrs, rest


def http_json(host, port, method, path, body=None, token=None, timeout=30.0):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    status, _, raw = http_request(host, port, method, path, body, headers, timeout)
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, doc


class WsConn:
    """One WebSocket connection to /v1/ws. Reads never block (poll())."""

    def __init__(self, host, port, timeout=10.0, path="/v1/ws", extra_headers=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n")
        for k, v in (extra_headers or {}).items():
            req += f"{k}: {v}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data:
            if time.monotonic() > deadline:
                raise WireError("handshake timed out")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WireError("closed during the handshake")
            data += chunk
        head, self.buf = data.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            self.sock.close()
            raise WireError(f"handshake refused: {status!r}")
        self.sock.setblocking(False)
        self.closed = False          # the server closed (close frame or EOF)
        self.close_code = None
        self.fragments = []
        self.frag_op = None
        self.out = b""               # bytes not yet written (server not reading)
        self.pending = []            # read by recv_until, not yet returned

    def fileno(self):
        return self.sock.fileno()

    # --- writing
    def send_raw(self, data):
        """Queues bytes and writes what the socket takes now."""
        self.out += data
        self.flush()

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return False
            except OSError as e:
                raise WireError(f"send failed: {e}") from e
            self.out = self.out[n:]
        return True

    def send_json(self, obj):
        self.send_raw(encode_frame(OP_TEXT, json.dumps(obj, separators=(",", ":"))))

    def send_text(self, text):
        self.send_raw(encode_frame(OP_TEXT, text))

    # --- reading
    def poll(self, max_bytes=1 << 20):
        """Reads what is there; returns the complete messages (dicts, or
        ("close", code) / ("text", str) for non-JSON text)."""
        got = 0
        while got < max_bytes and not self.closed:
            try:
                chunk = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            got += len(chunk)
        return self._parse()

    def _parse(self):
        out = []
        while True:
            b = self.buf
            if len(b) < 2:
                break
            fin, op = b[0] & 0x80, b[0] & 0x0F
            n, off = b[1] & 0x7F, 2
            if n == 126:
                if len(b) < 4:
                    break
                n, off = struct.unpack("!H", b[2:4])[0], 4
            elif n == 127:
                if len(b) < 10:
                    break
                n, off = struct.unpack("!Q", b[2:10])[0], 10
            if b[1] & 0x80:
                raise WireError("server frame is masked")
            if len(b) < off + n:
                break
            payload = b[off:off + n]
            self.buf = b[off + n:]
            if op == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.closed = True
                out.append(("close", self.close_code))
                break
            if op == OP_PING:
                try:
                    self.send_raw(encode_frame(OP_PONG, payload))
                except WireError:
                    pass
                continue
            if op == OP_PONG:
                continue
            if op in (OP_TEXT, OP_BINARY):
                self.frag_op, self.fragments = op, [payload]
            elif op == OP_CONT:
                self.fragments.append(payload)
            if fin and self.frag_op is not None:
                data = b"".join(self.fragments)
                self.fragments, self.frag_op = [], None
                try:
                    out.append(json.loads(data))
                except ValueError:
                    out.append(("text", data.decode("utf-8", "replace")))
        return out

    def wait_readable(self, timeout):
        p = select.poll()
        p.register(self.sock, select.POLLIN)
        p.poll(int(timeout * 1000))

    def recv_until(self, pred, timeout=20.0):
        """Reads until a message satisfies pred; returns (match, messages up to
        it). Messages after the match stay queued for the next call."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                m = self.pending.pop(0)
                seen.append(m)
                if pred(m):
                    return m, seen
            if self.closed or time.monotonic() >= deadline:
                return None, seen
            self.pending.extend(self.poll())
            if not self.pending:
                self.wait_readable(0.05)

    def wait_closed(self, timeout=20.0):
        """The close code the server sent (None for EOF without a close frame)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed:
            self.pending.extend(self.poll())
            self.wait_readable(0.05)
        return self.close_code if self.closed else "open"

    # --- ending
    def close(self, code=1000):
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(2)
            self.sock.sendall(encode_frame(OP_CLOSE, struct.pack("!H", code)))
        except OSError:
            pass
        self.sock.close()

    def cut(self, reset=True):
        """Drops the connection without a close frame (RST when reset)."""
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass
