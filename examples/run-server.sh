#!/usr/bin/env bash
# Builds courier-server (Release, in ./build) and starts it on the embedded
# default: RocksDB (./courier-data/rocksdb) and the key files in
# ./courier-data, presence in memory.
#
#   bash examples/run-server.sh
#
# Overridable by environment: COURIER_LISTEN (127.0.0.1:8080),
# COURIER_DATA_DIR (./courier-data), BUILD_DIR (./build), SKIP_DEPS=1 to skip
# the apt-get step, COURIER_ROCKSDB=release|system (below); any other COURIER_<FLAG> reaches the server as is, and
# arguments are passed through (e.g. --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
  bash cmake/install-deps.sh server  # only what building and running the server needs
fi

build_dir="${BUILD_DIR:-build}"
# ccache (when installed) hits across clones in other folders, as in tests/run.sh.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# RocksDB: the release build of cmake/build-rocksdb-release.sh when it is
# there (tests/run.sh makes it; COURIER_ROCKSDB=release makes it here first,
# 20-25 minutes once), else Debian's librocksdb, which keeps RocksDB's debug
# assertions (slower per message, the same data and guarantees).
rocksdb_release="$PWD/build/rocksdb-release/install"
if [[ "${COURIER_ROCKSDB:-}" == release ]]; then
  bash cmake/build-rocksdb-release.sh "$rocksdb_release"
fi
if [[ "${COURIER_ROCKSDB:-}" != system && -f "$rocksdb_release/courier-rocksdb-version" ]]; then
  rocksdb_root="$rocksdb_release"
  echo "run-server: RocksDB release build from $rocksdb_root"
else
  rocksdb_root=""
  echo "run-server: Debian's librocksdb (with its debug assertions; COURIER_ROCKSDB=release builds the release one)"
fi
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_BENCH=OFF -DCOURIER_ROCKSDB_ROOT="$rocksdb_root"
cmake --build "$build_dir" --target courier-server -j "$(nproc)"

export COURIER_LISTEN="${COURIER_LISTEN:-127.0.0.1:8080}"
export COURIER_DATA_DIR="${COURIER_DATA_DIR:-./courier-data}"
echo "open http://${COURIER_LISTEN/0.0.0.0/127.0.0.1}/ in a browser"
exec "$build_dir/examples/server/courier-server" "$@"
