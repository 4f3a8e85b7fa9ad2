"""Reading plain WebSocket connections through the io loop's own epoll set
(adapters/websocket/src/readiness_set.h), on one io thread: many
connections all get their frames read, bytes sent in pieces are read as
they come, and a connection whose peer goes away while idle is noticed and
freed."""

import re
import socket
import struct
import time

import courier_proto as cp


def websockets_open(s):
    r = s.admin_http("GET", "/metrics", token="")
    assert r.status == 200, r
    m = re.search(r"^courier_websockets_open (\S+)$", r.text, re.M)
    assert m, "courier_websockets_open missing from /metrics"
    return int(float(m.group(1)))


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_many_connections_on_one_loop_all_get_their_frames(make_server):
    s = make_server(["--io-threads", "1"], name="rdmany")
    u = s.new_user("many")
    conns = [s.connect_synced(u, f"d{i}") for i in range(60)]
    try:
        # Every connection sends before any reads: the loop finds them all
        # ready at once, in one or more batches.
        for round_ in range(3):
            for c in conns:
                c.ping()
            for i, c in enumerate(conns):
                c.label = f"d{i} round {round_}: "
                c.wait_for(lambda f: f.get("op") == "pong", what="pong")
    finally:
        for c in conns:
            c.close()


def test_frame_sent_in_pieces_is_read_as_the_pieces_come(make_server):
    s = make_server(["--io-threads", "1"], name="rdpieces")
    u = s.new_user("pieces")
    with s.connect_synced(u, "d") as c:
        # A masked text frame (RFC 6455 5.2): ping.
        payload = b'{"op":"ping"}'
        mask = b"\x01\x02\x03\x04"
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
            b ^ mask[i % 4] for i, b in enumerate(payload))
        sock = c.ws.sock
        for i in range(len(frame)):
            sock.sendall(frame[i:i + 1])
            time.sleep(0.01)  # each byte its own readiness
        c.wait_for(lambda f: f.get("op") == "pong", what="pong after a frame sent byte by byte")
        # And the connection goes on reading.
        c.barrier()


def test_connections_dropped_by_the_peer_while_idle_are_freed(make_server):
    s = make_server(["--io-threads", "1"], name="rddrop")
    u = s.new_user("drop")
    conns = [s.connect_synced(u, f"d{i}") for i in range(20)]
    keep = s.connect_synced(u, "keep")
    try:
        wait_until(lambda: websockets_open(s) == 21, what="21 connections open")
        # The peer's TCP goes without a close frame: half of them with FIN,
        # half with RST; nothing else happens on the server in between.
        for i, c in enumerate(conns):
            sock = c.ws.sock
            if i % 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        wait_until(lambda: websockets_open(s) == 1, what="the dropped connections freed")
        # The one that stayed still reads.
        keep.barrier()
        # New connections reuse the freed fd numbers and read normally.
        again = [s.connect_synced(u, f"again{i}") for i in range(5)]
        for c in again:
            c.barrier()
            c.close()
    finally:
        keep.close()
