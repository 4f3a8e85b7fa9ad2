"""Cross-node against same-node delivery latency on a private 3-node cluster.

Starts Redis, PostgreSQL and three courier-server nodes (cluster_lib), then
for each case sends N messages one at a time from a sender to a friend and
times send -> the recipient's `msg` frame (the recipient acks as it goes;
the two cases alternate message by message):
  same-node:  sender and recipient on node A
  cross-node: sender on node A, recipient on node B (woken through Redis)
Prints p50/p90/p99/max for both. Not a ctest (it measures, it does not judge).

  COURIER_SERVER=BUILD/examples/server/courier-server \
    /usr/bin/python3 tests/cluster/latency.py --messages 2000
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster_lib as cl  # noqa: E402


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s))) - 1))]


def pair(cluster, label, sender_node, recipient_node):
    src = cluster.new_user(f"src_{label}")
    dst = cluster.new_user(f"dst_{label}")
    cluster.befriend(src, dst)
    s = cluster.connect(src, "d", sender_node)
    r = cluster.connect(dst, "d", recipient_node)
    r.wait_op("synced")
    return s, r


def one(s, r, label, i):
    """Sends one message s -> r; the ms until r has it."""
    body = f"{label} {i}"
    t0 = time.monotonic()
    s.message(r.user, body, f"{label}-{i}")
    t1, m = r.wait_timed(lambda f: f.get("op") == "msg" and f.get("body") == body,
                         timeout=60, what=body)
    r.send({"op": "ack", "seq": m["seq"]})
    s.wait_op("sent", cid=f"{label}-{i}", timeout=60)
    s.discard()  # receipts and presence: not measured
    r.discard()
    return (t1 - t0) * 1000


def measure(cluster, n, warmup):
    """Same-node and cross-node sends alternate, so that both see the same
    load on the machine."""
    cases = {"same": pair(cluster, "same", 0, 0), "cross": pair(cluster, "cross", 0, 1)}
    results = {k: [] for k in cases}
    for i in range(warmup + n):
        for label, (s, r) in cases.items():
            ms = one(s, r, label, i)
            if i >= warmup:
                results[label].append(ms)
    for s, r in cases.values():
        s.close()
        r.close()
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--server", default=cl.find_server_binary())
    args = p.parse_args()
    reason = cl.missing_prerequisites()
    if reason:
        print("latency.py:", reason, file=sys.stderr)
        return 77
    if not args.server:
        print("latency.py: no courier-server (set COURIER_SERVER or --server)", file=sys.stderr)
        return 2
    cluster = cl.Cluster(args.server, nodes=3).start()
    try:
        results = measure(cluster, args.messages, args.warmup)
        print(f"\ndelivery latency, send -> recipient's msg frame, {args.messages} messages "
              f"each, one at a time (ms):")
        print(f"{'case':<12}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}{'mean':>8}")
        for label, name in (("same", "same-node"), ("cross", "cross-node")):
            v = results[label]
            print(f"{name:<12}{percentile(v, 50):8.2f}{percentile(v, 90):8.2f}"
                  f"{percentile(v, 99):8.2f}{max(v):8.2f}{statistics.mean(v):8.2f}")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
