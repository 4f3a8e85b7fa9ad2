#!/usr/bin/env bash
# Builds courier-server (Release, in ./build) and starts it on the embedded
# default: RocksDB (./courier-data/rocksdb) and the key files in
# ./courier-data, presence in memory.
#
#   bash examples/run-server.sh
#
# Overridable by environment: COURIER_LISTEN (127.0.0.1:8080),
# COURIER_DATA_DIR (./courier-data), BUILD_DIR (./build), SKIP_DEPS=1 to skip
# the apt-get step; any other COURIER_<FLAG> reaches the server as is, and
# arguments are passed through (e.g. --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
  bash cmake/install-deps.sh server  # only what building and running the server needs
fi

build_dir="${BUILD_DIR:-build}"
# ccache (when installed) hits across clones in other folders, as in tests/run.sh.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_BENCH=OFF
cmake --build "$build_dir" --target courier-server -j "$(nproc)"

export COURIER_LISTEN="${COURIER_LISTEN:-127.0.0.1:8080}"
export COURIER_DATA_DIR="${COURIER_DATA_DIR:-./courier-data}"
echo "open http://${COURIER_LISTEN/0.0.0.0/127.0.0.1}/ in a browser"
exec "$build_dir/examples/server/courier-server" "$@"
