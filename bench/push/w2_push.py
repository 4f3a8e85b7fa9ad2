#!/usr/bin/env python3
"""W2-like push cost: 10 senders send M messages in total to one offline
user (each keeping up to 50 sends in flight), and that user has a Web Push
subscription pointing at a local receiver (tests/protocol/test_push.py's).
Prints pushes sent, coalesced and dropped per offline message, from the
server's /metrics and the receiver's count.

    COURIER_SERVER=BUILD/examples/server/courier-server \
      /usr/bin/python3 bench/push/w2_push.py [--messages 20000] [--hold-ms 2000]
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "protocol"))

import courier_proto as cp  # noqa: E402
from test_push import Device, Receiver, metrics  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--senders", type=int, default=10)
    ap.add_argument("--in-flight", type=int, default=50)
    ap.add_argument("--hold-ms", type=int, default=2000)
    ap.add_argument("--store", default="memory")
    args = ap.parse_args()
    binary = cp.find_server_binary()
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="w2push-") as tmp:
        s = cp.Server(binary, os.path.join(tmp, "data"),
                      args=["--rate-limit", "1000000000/1", "--store", args.store,
                            "--push-hold-ms", str(args.hold_ms),
                            "--push-allow-private-addresses",  # the receiver is local
                            "--max-undelivered", str(args.messages + 10),
                            "--hash-queue", "64"])
        s.start()
        try:
            names = ["s%d" % i for i in range(args.senders)]
            rcpt = s.new_user("rcpt")
            senders = [s.new_user(n) for n in names]
            for u in senders:
                s.befriend(u, rcpt)
            phone = Device(receiver.url("/phone"))
            r = s.http("PUT", "/v1/devices/phone/push", phone.subscription(), token=rcpt.token)
            assert r.status == 200, r
            conns = [s.connect(u, "load") for u in senders]
            per = args.messages // len(conns)
            start = time.monotonic()
            for c in conns:  # round robin, each with up to in_flight sends open
                c.todo, c.open = per, 0
            done = 0
            while done < per * len(conns):
                for c in conns:
                    while c.todo > 0 and c.open < args.in_flight:
                        c.send_msg(rcpt.name, "x" * 16)
                        c.todo -= 1
                        c.open += 1
                    if c.open:
                        c.wait_op("sent")
                        c.open -= 1
                        done += 1
            elapsed = time.monotonic() - start
            total = per * len(conns)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                m = metrics(s)
                if m.get("courier_push_pending", 1) == 0 and \
                        m.get("courier_push_messages_total", 0) >= total:
                    break
                time.sleep(0.2)
            time.sleep(0.5)
            m = metrics(s)
            pushes = len(receiver.to("/phone"))
            counted = sum(phone.decrypt(b)["count"] for _, _, b in receiver.to("/phone"))
            out = {
                "messages": total, "enqueue_s": round(elapsed, 2),
                "hold_ms": args.hold_ms, "pushes_received": pushes,
                "messages_named_in_pushes": counted,
                "pushes_sent_per_msg": m["courier_push_sent_total"] / total,
                "coalesced_per_msg": m["courier_push_coalesced_total"] / total,
                "dropped_per_msg": m["courier_push_dropped_total"] / total,
                "metrics": m,
            }
            print(json.dumps(out, indent=1))
        finally:
            s.stop()
            receiver.close()


if __name__ == "__main__":
    main()
