#!/usr/bin/env bash
# Builds courier-server (Release, in ./build) and starts it on the embedded
# default: RocksDB (./courier-data/rocksdb) and the key files in
# ./courier-data, presence in memory.
#
#   bash examples/run-server.sh
#
# Overridable by environment: COURIER_LISTEN (127.0.0.1:8080),
# COURIER_DATA_DIR (./courier-data), BUILD_DIR (./build), SKIP_DEPS=1 to skip
# the apt-get step, COURIER_ROCKSDB=system (below); any other COURIER_<FLAG>
# reaches the server as is, and arguments are passed through (e.g.
# --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
  bash cmake/install-deps.sh server  # only what building and running the server needs
fi

build_dir="${BUILD_DIR:-build}"
# ccache (when installed) hits across clones in other folders, as in tests/run.sh.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# RocksDB: built in release mode from Debian's own source of the installed
# version (cmake/build-rocksdb-release.sh, into build/rocksdb-release; about
# 10 minutes on two cores the first time, seconds once built or with ccache's
# objects), because Debian's librocksdb keeps RocksDB's debug assertions
# (about 40 % more CPU per message, bench/README.md). COURIER_ROCKSDB=system links
# Debian's library instead (a quick start: the same data and guarantees); a
# release build that fails falls back to it, with a warning.
rocksdb_release="$PWD/build/rocksdb-release/install"
rocksdb_root=""
if [[ "${COURIER_ROCKSDB:-release}" != system ]]; then
  if bash cmake/build-rocksdb-release.sh "$rocksdb_release"; then
    rocksdb_root="$rocksdb_release"
  else
    echo "run-server: WARNING: the release build of RocksDB failed; linking Debian's librocksdb" >&2
  fi
fi
if [[ -n "$rocksdb_root" ]]; then
  echo "run-server: RocksDB's release build from $rocksdb_root"
else
  echo "run-server: Debian's librocksdb (with its debug assertions)"
fi
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_BENCH=OFF -DCOURIER_ROCKSDB_ROOT="$rocksdb_root"
cmake --build "$build_dir" --target courier-server -j "$(nproc)"

export COURIER_LISTEN="${COURIER_LISTEN:-127.0.0.1:8080}"
export COURIER_DATA_DIR="${COURIER_DATA_DIR:-./courier-data}"
echo "open http://${COURIER_LISTEN/0.0.0.0/127.0.0.1}/ in a browser"
exec "$build_dir/examples/server/courier-server" "$@"
