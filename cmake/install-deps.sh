#!/usr/bin/env bash
# Installs the Debian 12 packages Courier needs, by purpose. Idempotent (only
# missing packages are installed; nothing is done when none is missing);
# needs root or sudo.
#
#   bash cmake/install-deps.sh server   # build and run courier-server (the README's server command)
#   bash cmake/install-deps.sh tests    # server + the test tools and servers (the README's test command, CI)
#   bash cmake/install-deps.sh bench    # server + Google Benchmark and gnuplot (bench/README.md)
#   bash cmake/install-deps.sh cluster  # server + redis-server, PostgreSQL and nginx (examples/cluster)
#   bash cmake/install-deps.sh all      # every purpose
#   bash cmake/install-deps.sh --list PURPOSE   # print the packages, install nothing
#
# COURIER_INSTALL_EXTRA="pkg ..." adds packages (tests/run.sh: the browser test's).
# Each package is here because something in the repository uses it:
set -euo pipefail

# courier-server and the libraries it links: the toolchain (git: the commit in
# courier/version.h; ccache: every build script uses it when present), the
# core (abseil, libsodium), the stores the server's --store and --redis flags
# reach (RocksDB, SQLite, libpq, mongo-c-driver + libbson, hiredis), the
# WebSocket adapter (Boost.Beast, OpenSSL, RapidJSON) and the server itself
# (spdlog, fmt, CLI11; the CLI and courier-load use the same headers);
# gperftools' tcmalloc, the heap allocator of courier-server and the benchmarks
# (cmake/CourierAllocator.cmake).
server=(
  build-essential cmake ninja-build ccache pkg-config git
  libabsl-dev libsodium-dev
  librocksdb-dev libsqlite3-dev libpq-dev libmongoc-dev libbson-dev libhiredis-dev
  libboost-dev libssl-dev rapidjson-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libgoogle-perftools-dev
)
# Google Benchmark (bench/*_bench.cc; tests/run.sh builds them too), gnuplot
# for bench/plot.sh.
bench=(libbenchmark-dev gnuplot-nox)
# Catch2 (every C++ test), the servers the tests start (redis-server,
# PostgreSQL), Python with pytest, websocket-client and mockupdb (protocol,
# abuse, chaos, cluster and MongoDB wire tests), cryptography (tests/webpush
# decrypts and verifies Web Push independently), openssl (test certificates),
# clang 14 with its runtime (the libFuzzer stage), systemd for
# systemd-analyze (tests/library checks examples/systemd), and Google
# Benchmark because the test build compiles the benchmarks.
tests=(
  catch2 redis-server postgresql
  python3 python3-pytest python3-websocket python3-mockupdb python3-cryptography openssl
  clang-14 libclang-rt-14-dev systemd
  libbenchmark-dev
  tmux  # tests/cli/chat_tmux_test.sh drives courier-cli chat in tmux (skipped without it)
)
# examples/cluster/run-cluster.sh: three nodes on a shared Redis and
# PostgreSQL behind nginx.
cluster=(redis-server postgresql nginx python3)

usage() {
  echo "usage: $0 [--list] server|tests|bench|cluster|all" >&2
  exit 2
}
list=0
if [ "${1:-}" = "--list" ]; then
  list=1
  shift
fi
[ $# -eq 1 ] || usage
packages=("${server[@]}")
case "$1" in
  server) ;;
  tests) packages+=("${tests[@]}") ;;
  bench) packages+=("${bench[@]}") ;;
  cluster) packages+=("${cluster[@]}") ;;
  all) packages+=("${tests[@]}" "${bench[@]}" "${cluster[@]}") ;;
  *) usage ;;
esac
if [ "${COURIER_INSTALL_EXTRA:-}" != "" ]; then
  # shellcheck disable=SC2206
  packages+=(${COURIER_INSTALL_EXTRA})
fi
# Each package once, in order.
declare -A seen=()
unique=()
for p in "${packages[@]}"; do
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  unique+=("$p")
done
if [ "$list" = 1 ]; then
  printf '%s\n' "${unique[@]}"
  exit 0
fi
missing=()
for p in "${unique[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps.sh $1: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
