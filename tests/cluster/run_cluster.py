"""ctest entry of the cluster test: exit 77 (skipped, by name) when this
machine has no redis-server or PostgreSQL server, else pytest on
test_cluster.py (its exit status)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster_lib  # noqa: E402

reason = cluster_lib.missing_prerequisites()
if reason:
    print(f"SKIPPED: cluster: {reason}", flush=True)
    sys.exit(77)

import pytest  # noqa: E402

sys.exit(pytest.main(["-q", "-s", *sys.argv[1:],
                      os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "test_cluster.py")]))
