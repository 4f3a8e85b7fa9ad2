#!/usr/bin/env bash
# tests/run.sh: installs what Courier needs, starts the servers its tests use,
# builds, and runs every test. The README's test command and CI's.
#
#   bash tests/run.sh            # everything: release tests, ASan+UBSan, TSan
#   bash tests/run.sh --quick    # release build and tests only
#   COURIER_ROCKSDB=system bash tests/run.sh   # Debian's librocksdb in every stage
#
# Servers: a redis-server and a PostgreSQL cluster on free loopback ports,
# with their files in a temporary folder, stopped on exit. MongoDB cannot be
# installed from Debian: its live suite runs when MONGODB_URI is set and is
# reported as skipped, by name, otherwise.
# Build folders: build/rocksdb-release (RocksDB, release), build/test,
# build/asan, build/tsan (kept, with ccache, so a second run is fast).
# COURIER_JOBS sets build parallelism (default: nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
  esac
done
jobs=${COURIER_JOBS:-$(nproc)}
# ccache hits across clones in other folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-10G}
# libmongoc (linked into the server and the store tests) initializes itself
# before main and exports its counters in /dev/shm/mongoc-PID. A process
# killed by a test (kill -9) leaves that file behind; once PIDs wrap (32768
# on a small machine) a later process with the same PID prints "Falling back
# to malloc for counters." to stderr, which breaks the JSON-log test's one
# object per line (seen in the ASan stage of c8bc4d4's CI run). The counters
# are not used: keep them in process memory.
export MONGOC_DISABLE_SHM=1
step() { printf '\n==== %s (%s)\n' "$*" "$(date +%T)"; }

step "install packages"
extra="chromium"
# Node.js and npm (the browser test's playwright-core) usually come with the
# machine; Debian's packages conflict with those, so add them only if absent.
command -v node >/dev/null && command -v npm >/dev/null || extra="$extra nodejs npm"
COURIER_INSTALL_EXTRA="$extra" bash cmake/install-deps.sh tests

work=$(mktemp -d /tmp/courier-tests.XXXXXX)
chmod 755 "$work"
cleanup() {
  bash tests/services/redis.sh stop "$work/redis" >/dev/null 2>&1 || true
  bash tests/services/postgres.sh stop "$work/postgres" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "start redis-server and PostgreSQL on loopback"
eval "$(bash tests/services/redis.sh start "$work/redis")"
eval "$(bash tests/services/postgres.sh start "$work/postgres")"
echo "redis: $COURIER_TEST_REDIS_URL"
echo "postgres: $COURIER_TEST_POSTGRES_URL"
if [ -z "${MONGODB_URI:-}" ]; then
  echo "mongodb: MONGODB_URI not set; the live MongoDB suite will be reported as skipped"
fi

configure() {  # configure DIR [cmake args...]
  local dir=$1
  shift
  cmake -G Ninja -S "$root" -B "$dir" "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
}

# The release stage links RocksDB built in release mode from Debian's own
# source (cmake/build-rocksdb-release.sh): Debian's librocksdb keeps RocksDB's
# debug assertions, with which the store spends about 40 % more CPU per
# message (BM_W1Mix, bench/README.md), and the release build is the one the
# figures and a production server use. 16 minutes of CPU the first time
# (about 10 on two idle cores), nothing once built (build/rocksdb-release,
# kept), seconds with ccache's objects. The sanitizer stages keep
# Debian's static library, assertions and all. COURIER_ROCKSDB=system skips
# the build; a build that fails falls back to Debian's library, loudly.
rocksdb_root=-DCOURIER_ROCKSDB_ROOT=
if [ "${COURIER_ROCKSDB:-release}" != system ]; then
  step "build RocksDB in release mode (Debian's source of the installed version)"
  if bash cmake/build-rocksdb-release.sh "$root/build/rocksdb-release/install"; then
    rocksdb_root=-DCOURIER_ROCKSDB_ROOT="$root/build/rocksdb-release/install"
  else
    echo "WARNING: the release build of RocksDB failed; the release stage links Debian's librocksdb" >&2
  fi
fi

step "build (RelWithDebInfo, -Wall -Wextra)"
mkdir -p build
configure build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo "$rocksdb_root"
cmake --build build/test -j "$jobs"

step "tests"
(cd build/test && ctest --output-on-failure -j 2 --timeout 1200)

if [ "$quick" = 1 ]; then
  exit 0
fi

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
# RocksDB's static library keeps its own assertions: this stage checks how
# courier::rocksdb uses RocksDB too.
configure build/asan -DCMAKE_BUILD_TYPE=Debug -DCOURIER_SANITIZE=address,undefined -DCOURIER_ROCKSDB_STATIC=ON \
  -DCOURIER_BUILD_BENCH=OFF
cmake --build build/asan -j "$jobs"

step "tests under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build/asan && COURIER_MODEL_SEEDS=300 COURIER_POWERLOSS_SEEDS=200 ctest --output-on-failure -j 2 --timeout 1800 \
   -LE 'browser|consumer')

step "build with ThreadSanitizer (the concurrent parts)"
configure build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOURIER_SANITIZE=thread \
  -DCOURIER_BUILD_BENCH=OFF -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_WITH_WEBSOCKET=OFF
cmake --build build/tsan -j "$jobs"

step "concurrent tests under TSan"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/support/tsan.supp
(cd build/tsan && COURIER_MODEL_SEEDS=100 COURIER_POWERLOSS_SEEDS=20 ctest --output-on-failure -j 2 --timeout 1800 \
   -L 'core|memory|presence|redis|postgres|sqlite|rocksdb|conformance|webpush')

step "build the libFuzzer targets with clang (also checks -Wthread-safety)"
configure build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCOURIER_FUZZ=ON -DCOURIER_BUILD_BENCH=OFF -DCOURIER_BUILD_TESTS=ON \
  -DCOURIER_WITH_MONGO=OFF -DCOURIER_WITH_POSTGRES=OFF -DCOURIER_WITH_REDIS=OFF
cmake --build build/fuzz -j "$jobs" --target fuzz_frame_decoder fuzz_ws_frames fuzz_token \
  fuzz_http_api fuzz_engine fuzz_webpush fuzz_load_frames fuzz_group_codec

step "fuzz each target for a bounded time"
bash tests/fuzz/run.sh build/fuzz "${COURIER_FUZZ_SECONDS:-30}"

step "done: every stage passed"
