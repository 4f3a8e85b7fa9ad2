"""courier_ws: a WebSocket client of courier-server's /v1/ws (wire protocol v1).

Contract:
- WsClient(url) opens the connection (websocket-client, Debian's
  python3-websocket) and sends nothing. Frames the server sends arrive, in
  order, into `pending` (a deque of dicts); every receive has a timeout
  (`timeout`, RECV_TIMEOUT unless given), so a broken server fails a test
  instead of hanging it.
- take() returns the next pending frame in order (passing over ops such as
  presence, which stay pending); wait_for(pred) returns the first frame that
  matches and keeps the others pending in order. Both raise AssertionError
  on timeout; a server close raises Closed (its close code in `code`).
- on_frame(frame), called once per frame as it arrives, is for subclasses
  that keep their own record (the cluster test's Client).
- A text frame that is not a JSON object with a string "op", or a binary
  frame, fails with AssertionError: the protocol has neither.

Not thread-safe: one thread reads a client (it may send from another).
For raw bytes (bad framing, sockets that stop reading) use courier_wire.
"""

import collections
import itertools
import json
import os
import secrets
import socket
import ssl
import struct
import time

import websocket  # Debian: python3-websocket (websocket-client)

# Generous: the suites run on a slow shared machine. A frame that should come
# comes well within this; a frame that never comes fails the test after it.
RECV_TIMEOUT = float(os.environ.get("COURIER_TEST_RECV_TIMEOUT", "15"))
# How long a test listens for frames that must NOT come. Only a false pass
# can result from a slow server here, never a false failure.
QUIET = 1.0

# The ops of inbox events (each has a seq and is acked).
INBOX_OPS = ("msg", "receipt", "group_event")

_names = itertools.count(1)
_run = secrets.token_hex(3)


def unique_name(prefix="u"):
    """A fresh user, device or cid name (1-64 of [A-Za-z0-9_.-])."""
    return f"{prefix}{next(_names)}_{_run}"


class Closed(Exception):
    """The server closed the connection; `code` is its close code (or None)."""

    def __init__(self, code, reason=""):
        super().__init__(f"connection closed by server with code {code} {reason!r}")
        self.code = code
        self.reason = reason


def sslopt_for(ca_file):
    """websocket-client's sslopt that trusts `ca_file` (None: plain ws://)."""
    if not ca_file:
        return None
    return {"ca_certs": str(ca_file), "cert_reqs": ssl.CERT_REQUIRED}


class WsClient:
    """A WebSocket connection that keeps frames it was not asked for."""

    def __init__(self, url, sslopt=None, timeout=None):
        self.timeout = RECV_TIMEOUT if timeout is None else timeout
        self.ws = websocket.create_connection(url, timeout=self.timeout,
                                              enable_multithread=True, sslopt=sslopt)
        self.pending = collections.deque()
        self.closed = None  # Closed once the server closed
        self.welcome = None
        self.label = ""  # prefixes failure messages (e.g. "alice/phone: ")

    # -- sending

    def send_raw(self, text):
        self.ws.send(text)

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def hello(self, token, device, since=None, **extra):
        frame = {"op": "hello", "token": token, "device": device}
        if since is not None:
            frame["since"] = since
        frame.update(extra)
        self.send(frame)

    def send_msg(self, to, body, cid=None, **extra):
        cid = cid or unique_name("c")
        frame = {"op": "send", "cid": cid, "to": to, "body": body}
        frame.update(extra)
        self.send(frame)
        return cid

    def answer(self, cid, *ops):
        """Waits for the answer to the request `cid`: a frame of one of `ops`
        (or error) with that cid."""
        ops = ops + ("error",)
        return self.wait_for(lambda f: f.get("op") in ops and f.get("cid") == cid,
                             what=f"{'/'.join(ops)} for cid {cid}")

    def message(self, to, body="hi", cid=None, **extra):
        """Sends and waits for its answer (sent or error with that cid)."""
        return self.answer(self.send_msg(to, body, cid=cid, **extra), "sent")

    def send_many(self, to, bodies):
        """Sends every body at once (no waiting in between), then waits for
        each one's `sent`; returns those frames in order."""
        cids = [self.send_msg(to, body) for body in bodies]
        return [self.wait_op("sent", cid=cid) for cid in cids]

    def group_op(self, action, cid=None, **fields):
        """Sends a `group` op and waits for its answer (group_ok or error)."""
        cid = cid or unique_name("g")
        frame = {"op": "group", "cid": cid, "action": action}
        frame.update(fields)
        self.send(frame)
        return self.answer(cid, "group_ok")

    def create_group(self, name, members=(), cid=None):
        """Creates a group; returns its id (asserts group_ok)."""
        ok = self.group_op("create", cid=cid, name=name, members=list(members))
        assert ok["op"] == "group_ok" and ok["changed"] is True, ok
        return ok["group"]

    def group_message(self, group, body="hi", cid=None):
        """Sends to a group and waits for its answer (sent or error)."""
        cid = cid or unique_name("c")
        self.send({"op": "send", "cid": cid, "group": group, "body": body})
        return self.answer(cid, "sent")

    def list_groups(self, group=None, cid=None):
        """Sends `groups` and waits for its answer (groups or error)."""
        cid = cid or unique_name("q")
        frame = {"op": "groups", "cid": cid}
        if group is not None:
            frame["group"] = group
        self.send(frame)
        return self.answer(cid, "groups")

    def typing(self, on=True, to=None, group=None):
        frame = {"op": "typing", "on": on}
        if to is not None:
            frame["to"] = to
        if group is not None:
            frame["group"] = group
        self.send(frame)

    def ack(self, seq):
        self.send({"op": "ack", "seq": seq})

    def read(self, ids):
        self.send({"op": "read", "ids": list(ids)})

    def ping(self):
        self.send({"op": "ping"})

    def barrier(self):
        """Ping and wait for pong: every frame the server wrote before it is pending."""
        self.ping()
        self.wait_for(lambda f: f.get("op") == "pong", what="pong")

    # -- receiving

    def on_frame(self, frame):
        """Called with each frame as it arrives (before it is pending)."""

    def _read_frame(self, timeout):
        """The next text frame from the socket as a dict; raises Closed or
        TimeoutError.

        Reads raw frames (not websocket-client's recv_data_frame, which
        answers a close frame before returning it and loses it when that
        answer fails on a socket the server already shut).
        """
        if self.closed is not None:
            raise self.closed
        deadline = time.monotonic() + timeout
        parts = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.ws.settimeout(left)
            try:
                frame = self.ws.recv_frame()
            except (websocket.WebSocketTimeoutException, socket.timeout):
                raise TimeoutError from None
            except (websocket.WebSocketConnectionClosedException, ConnectionError,
                    OSError) as e:
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
                except Exception:  # noqa: BLE001 - the server may have shut already
                    pass
                raise self.closed
            if op == websocket.ABNF.OPCODE_PING:
                try:
                    self.ws.pong(frame.data)
                except Exception:  # noqa: BLE001
                    pass
                continue
            if op == websocket.ABNF.OPCODE_PONG:
                continue
            if op == websocket.ABNF.OPCODE_BINARY:
                raise AssertionError(f"server sent a binary frame: {frame.data[:100]!r}")
            assert op in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_CONT), op
            parts.append(frame.data)
            if not frame.fin:
                continue
            text = b"".join(parts).decode("utf-8")
            try:
                obj = json.loads(text)
            except ValueError:
                raise AssertionError(f"server sent a text frame that is not JSON: "
                                     f"{text[:200]!r}") from None
            assert isinstance(obj, dict) and isinstance(obj.get("op"), str), \
                f"server frame without a string op: {text[:200]!r}"
            self.on_frame(obj)
            return obj

    def wait_for(self, pred, timeout=None, what="a matching frame"):
        """Takes and returns the first pending (or arriving) frame matching pred."""
        for i, f in enumerate(self.pending):
            if pred(f):
                del self.pending[i]
                return f
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self._read_frame(deadline - time.monotonic())
            except TimeoutError:
                raise AssertionError(f"{self.label}no {what} within {timeout}s; pending: "
                                     f"{list(self.pending)!r:.800}") from None
            if pred(f):
                return f
            self.pending.append(f)

    def take(self, skip=("presence", "pong"), timeout=None):
        """The next frame in order whose op is not in `skip`."""
        return self.wait_for(lambda f: f["op"] not in skip, timeout=timeout,
                             what=f"frame (other than {skip})")

    def expect(self, op, skip=("presence", "pong"), timeout=None, **fields):
        """take(), asserting the frame's op and `fields`."""
        f = self.take(skip=tuple(s for s in skip if s != op), timeout=timeout)
        assert f["op"] == op, f"expected {op!r}, got {f!r}"
        for k, v in fields.items():
            assert f.get(k) == v, f"{op}.{k}: expected {v!r}, got {f!r}"
        return f

    def wait_op(self, op, timeout=None, **fields):
        return self.wait_for(
            lambda f: f["op"] == op and all(f.get(k) == v for k, v in fields.items()),
            timeout=timeout, what=f"{op} {fields or ''}")

    def error(self, timeout=None):
        return self.wait_op("error", timeout=timeout)

    def next_event(self, timeout=None):
        """The next inbox event (msg, receipt or group_event), in order."""
        return self.wait_for(lambda f: f["op"] in INBOX_OPS, timeout=timeout,
                             what="inbox event (msg/receipt/group_event)")

    def events(self, n, timeout=None):
        return [self.next_event(timeout) for _ in range(n)]

    def until_synced(self, timeout=None):
        """Inbox events up to `synced` (returned as (events, synced))."""
        evs = []
        while True:
            f = self.wait_for(lambda f: f["op"] in INBOX_OPS + ("synced",),
                              timeout=timeout, what="event or synced")
            if f["op"] == "synced":
                return evs, f
            evs.append(f)

    def listen(self, seconds=QUIET):
        """Reads every frame for `seconds`, and then what is already there,
        into pending (for 'nothing comes' checks)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            try:
                self.pending.append(self._read_frame(max(left, 0.001)))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return

    def pending_ops(self, *ops):
        return [f for f in self.pending if f["op"] in ops]

    def discard(self, *ops):
        """Drops the pending frames of `ops` (every pending frame when none)."""
        keep = [f for f in self.pending if ops and f["op"] not in ops]
        self.pending.clear()
        self.pending.extend(keep)

    def wait_close(self, timeout=None):
        """Reads until the server closes; returns the Closed (code, reason)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.pending.append(self._read_frame(deadline - time.monotonic()))
            except Closed as c:
                return c
            except TimeoutError:
                raise AssertionError(f"{self.label}server did not close within "
                                     f"{timeout}s; pending: {list(self.pending)!r:.600}") \
                    from None

    def expect_close(self, timeout=None):
        """Reads until the server closes; returns the close code."""
        return self.wait_close(timeout).code

    def close(self):
        try:
            self.ws.close(timeout=2)
        except Exception:  # noqa: BLE001 - closing a dead socket is fine
            pass
        # websocket-client's close() does nothing once a close frame was
        # answered; the server then waits for our TCP FIN. Close the socket.
        self.ws.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
