#!/usr/bin/env python3
"""The kernel's CPU per small frame over loopback TCP: the floor under W1.

Two processes play ping-pong over one loopback TCP connection (TCP_NODELAY),
FRAME bytes each way per round, each frame its own send and its own recv
system call. The echoing process's system CPU time (getrusage) per round is
what one recv plus one send of a small frame costs in the kernel, the loopback
delivery to the peer included (on loopback the sender's system call runs the
receiver's TCP input too). User time is Python's and is printed only to show
it is not counted.

INFLIGHT (default 1) frames travel at once. With 1, each process sleeps in
recv for every frame, and on an idle machine the kernel's time includes
waking it (measured 19 us per round idle against 7-8 with both cores busy):
the worst case. With 32 or more the processes rarely sleep: what a busy
server pays per frame, the floor under W1 (200 connections keep the server's
io threads busy).

    python3 bench/loopback_floor.py [ROUNDS] [FRAME] [INFLIGHT]   # 100000, 100, 1

Checks before it prints: every frame arrives whole with the bytes sent, and
the other process exits 0 after exactly ROUNDS rounds. Split between send and
recv: `perf record -g` on it (bench/README.md, fourteenth session).
"""
import os
import resource
import socket
import sys
import time


def recv_exactly(sock, n):
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise SystemExit("loopback_floor: the peer closed early")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    frame = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    inflight = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if rounds < 1 or not 1 <= frame <= 65536 or not 1 <= inflight <= min(rounds, 256):
        raise SystemExit("usage: loopback_floor.py [ROUNDS >= 1] [FRAME 1..65536] "
                         "[INFLIGHT 1..min(ROUNDS, 256)]")
    ping, pong = b"p" * frame, b"q" * frame
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    child = os.fork()
    if child == 0:
        status = 0
        try:
            c = socket.create_connection(("127.0.0.1", port))
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(inflight):
                c.sendall(ping)
            for i in range(rounds):
                if recv_exactly(c, frame) != pong:
                    status = 3
                    break
                if i + inflight < rounds:
                    c.sendall(ping)
        except BaseException:  # noqa: BLE001 - any failure is the exit status
            status = 4
        os._exit(status)
    s, _ = listener.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    for i in range(rounds):
        if recv_exactly(s, frame) != ping:
            raise SystemExit(f"loopback_floor: round {i}: wrong bytes")
        s.sendall(pong)
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    _, status = os.waitpid(child, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise SystemExit(f"loopback_floor: the sending process failed ({status})")
    kernel_us = (r1.ru_stime - r0.ru_stime) * 1e6 / rounds
    user_us = (r1.ru_utime - r0.ru_utime) * 1e6 / rounds
    print(f"loopback_floor rounds {rounds} frame_bytes {frame} inflight {inflight}")
    print(f"loopback_floor kernel_us_per_recv_plus_send {kernel_us:.2f}")
    print(f"loopback_floor python_user_us_per_round {user_us:.2f}")
    print(f"loopback_floor rounds_per_s {rounds / (t1 - t0):.0f}")


if __name__ == "__main__":
    main()
