#!/usr/bin/env bash
# tests/fuzz/run.sh: runs every libFuzzer target for a bounded time; fails
# on the first crash, leak, sanitizer report or failed FUZZ_CHECK.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]   (default 30)
#
# BUILD_DIR is a build configured with clang and COURIER_FUZZ=ON, e.g.
#   cmake -G Ninja -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#     -DCMAKE_CXX_COMPILER=clang++-14 -DCOURIER_FUZZ=ON -DCOURIER_BUILD_BENCH=OFF \
#     -DCOURIER_WITH_MONGO=OFF -DCOURIER_WITH_POSTGRES=OFF -DCOURIER_WITH_REDIS=OFF
#   cmake --build build/fuzz --target fuzz_frame_decoder fuzz_ws_frames fuzz_token \
#     fuzz_http_api fuzz_engine fuzz_webpush fuzz_load_frames fuzz_group_codec
# (Debian: clang-14 libclang-rt-14-dev). The seed corpus of each target is
# tests/fuzz/corpus/<target>/; it is only read. New inputs go to a temporary
# corpus, and a crash input to BUILD_DIR/fuzz-artifacts/<target>/; the
# script prints how to reproduce it and where to keep it as a regression
# input (then it is replayed by ctest's fuzz_replay_<target> in every build).
set -uo pipefail

die() { echo "fuzz/run.sh: $*" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 BUILD_DIR [SECONDS_PER_TARGET]"
build=$(cd "$1" 2>/dev/null && pwd) || die "no build dir $1"
seconds=${2:-30}
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 ]] || die "SECONDS must be a positive integer"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

targets=(frame_decoder ws_frames token http_api engine webpush load_frames group_codec)
declare -A max_len=([frame_decoder]=8192 [ws_frames]=4096 [token]=2048 [http_api]=8192
                    [engine]=1024 [webpush]=5000 [load_frames]=8192 [group_codec]=8192)
# Extra libFuzzer flags per target (none needed today).
declare -A extra=([frame_decoder]="" [ws_frames]="" [token]="" [http_api]="" [engine]=""
                  [webpush]="" [load_frames]="" [group_codec]="")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:suppressions=$here/ubsan.supp

work=$(mktemp -d /tmp/courier-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [[ -x "$bin" ]] || die "$bin not built (configure with clang++-14 and -DCOURIER_FUZZ=ON, build fuzz_$t)"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$artifacts" "$work/$t"
  echo "==== fuzz_$t: ${seconds}s from $(ls "$here/corpus/$t" | wc -l) seed inputs"
  "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
    -max_len="${max_len[$t]}" -print_final_stats=1 ${extra[$t]} \
    -artifact_prefix="$artifacts/" "$work/$t" "$here/corpus/$t" >"$work/$t.log" 2>&1
  rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$work/$t.log" || true
  if [[ $rc -ne 0 ]]; then
    tail -n 60 "$work/$t.log"
    crash=$(ls -t "$artifacts"/* 2>/dev/null | head -n 1)
    echo "fuzz_$t FAILED (exit $rc)."
    if [[ -n "$crash" ]]; then
      echo "  reproduce: $bin $crash"
      echo "  keep it:   cp $crash $here/corpus/$t/regression-<what-broke>"
    fi
    failed+=("$t")
  else
    echo "fuzz_$t: no crash in ${seconds}s"
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz/run.sh: crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzz/run.sh: ${#targets[@]} targets, ${seconds}s each, no crash"
