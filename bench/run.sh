#!/bin/sh
# bench/run.sh [BUILD_DIR]: everything of bench/README.md in one command.
# Configures a Release build (default /tmp/build-bench), builds only what the
# benchmarks need, then runs courier-load (W1..W5, twice), core_bench,
# frame_codec_bench and bench/plot.sh. Figures go to standard output.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-/tmp/build-bench}
# COURIER_BENCH_ROCKSDB=release: link a release build of RocksDB (built once
# by cmake/build-rocksdb-release.sh, 20-40 min) instead of Debian's library,
# which keeps RocksDB's debug assertions.
rocksdb_flag=""
if [ "${COURIER_BENCH_ROCKSDB:-system}" = release ]; then
  bash "$here/../cmake/build-rocksdb-release.sh"
  rocksdb_flag="-DCOURIER_ROCKSDB_ROOT=$here/../build/rocksdb-release/install"
fi
# shellcheck disable=SC2086
cmake -G Ninja -S "$here/.." -B "$build" -DCMAKE_BUILD_TYPE=Release $rocksdb_flag >/dev/null
cmake --build "$build" -j2 --target courier-server courier-load core_bench frame_codec_bench
for run in 1 2; do
  echo "# courier-load run $run"
  "$build/bench/courier-load"
done
echo "# core_bench"
"$build/bench/core_bench" --benchmark_min_time=0.5
echo "# frame_codec_bench"
"$build/bench/frame_codec_bench"
"$here/plot.sh" "$build" "$here"
