#!/usr/bin/env bash
# Builds RocksDB as a release static library from Debian's own source package
# of the installed librocksdb-dev (same version, Debian's patches applied),
# and installs it into PREFIX (default: build/rocksdb-release/install).
#
#   bash cmake/build-rocksdb-release.sh [PREFIX]
#   cmake -B build/fast -DCOURIER_ROCKSDB_ROOT=build/rocksdb-release/install ...
#
# RTTI stays on (USE_RTTI=1): courier::rocksdb derives from RocksDB's
# classes (compaction filter, prefix extractor, logger).
#
# Why: Debian builds librocksdb without NDEBUG, so the packaged library runs
# RocksDB's debug assertions and test sync points on every write (the
# skiplist re-checks each insert against its neighbours at every level). The
# store profile in bench/README.md shows what that costs per message. The
# README's test command (tests/run.sh) runs it and links its release stage
# against it; examples/run-server.sh links it when it is there.
#
# Needs root (or sudo) the first time, to add Debian's source index when the
# machine has none and to install the build tools. 16 minutes of CPU (325
# objects): about 9-10 minutes on two idle cores, 19 beside other builds
# (measured 2026-12-07 with ccache off; ccache makes a second build of the
# same version fast). Idempotent: an install of the same version is kept.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$root/build/rocksdb-release/install}
work=$(dirname "$prefix")/src
jobs=${COURIER_JOBS:-$(nproc)}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=1

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

bash "$root/cmake/install-deps.sh" >/dev/null 2>&1 || true
version=$(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || true)
if [ -z "$version" ]; then
  echo "build-rocksdb-release: librocksdb-dev is not installed (bash cmake/install-deps.sh)" >&2
  exit 1
fi
if [ -f "$prefix/courier-rocksdb-version" ] && [ "$(cat "$prefix/courier-rocksdb-version")" = "$version" ]; then
  echo "build-rocksdb-release: RocksDB $version (release) already in $prefix"
  exit 0
fi

# Debian's source index: added (as a copy of the binary index's entries)
# only when apt knows no source for rocksdb.
if [ -z "$(apt-cache showsrc rocksdb 2>/dev/null)" ]; then
  src_list=/etc/apt/sources.list.d/courier-deb-src.sources
  echo "build-rocksdb-release: adding Debian's source index ($src_list)"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q '^Types: *deb$' "$f" && sed 's/^Types: *deb$/Types: deb-src/' "$f"
    echo
  done | $SUDO tee "$src_list" >/dev/null
  if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee -a /etc/apt/sources.list.d/courier-deb-src.list >/dev/null
  fi
  $SUDO apt-get update -q >/dev/null
fi
for p in cmake ninja-build patch liburing-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    $SUDO apt-get install -y -q --no-install-recommends "$p" >/dev/null
done

rm -rf "$work"
mkdir -p "$work"
cd "$work"
echo "build-rocksdb-release: fetching Debian's source of rocksdb $version"
apt-get source -q --download-only "rocksdb=$version" >/dev/null 2>&1
upstream=${version#*:}
upstream=${upstream%-*}
tar xf "rocksdb_${upstream}.orig.tar.gz"
src=$(find . -maxdepth 1 -type d -name 'rocksdb-*' | head -1)
tar xf rocksdb_"${version#*:}".debian.tar.xz -C "$src"
if [ -f "$src/debian/patches/series" ]; then
  while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    patch -d "$src" -p1 -s <"$src/debian/patches/$p"
  done <"$src/debian/patches/series"
fi

echo "build-rocksdb-release: building (Release: -O2 -DNDEBUG, portable, static, RTTI; $jobs jobs)"
# Portable, but with the CPU's CRC32C instruction on x86-64 (SSE4.2, every
# x86-64 CPU since 2008): the portable default computes the WAL's and the
# tables' checksums in software, 5 % of a W1 message's instructions.
arch_flags=()
[ "$(uname -m)" = x86_64 ] && arch_flags=(-DFORCE_SSE42=ON)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -G Ninja -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_INSTALL_LIBDIR=lib -DPORTABLE=ON -DFAIL_ON_WARNINGS=OFF -DROCKSDB_BUILD_SHARED=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DUSE_RTTI=1 -DWITH_GFLAGS=OFF -DWITH_TESTS=OFF -DWITH_TOOLS=OFF \
  -DWITH_CORE_TOOLS=OFF -DWITH_BENCHMARK_TOOLS=OFF -DWITH_TRACE_TOOLS=OFF -DWITH_ALL_TESTS=OFF \
  "${arch_flags[@]}" "${launcher[@]}" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j "$jobs" --target install >"$work/build.log" 2>&1 ||
  { tail -50 "$work/build.log"; exit 1; }
echo "$version" >"$prefix/courier-rocksdb-version"
rm -rf "$work/build"  # the objects: ccache keeps what a rebuild needs
echo "build-rocksdb-release: RocksDB $version (release) installed in $prefix"
