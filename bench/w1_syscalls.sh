#!/bin/bash
# bench/w1_syscalls.sh LOAD SERVER [courier-load args...]: system calls and
# context switches per message of SERVER over the W1 phase only.
#
# Runs LOAD (a courier-load binary) with --workloads W1 against SERVER (which it
# starts), attaches `perf stat` to the server when courier-load logs
# "running W1", and divides each count by the messages W1 delivered. Needs
# perf with the syscalls tracepoints (no hardware counters needed).
# Example: bench/w1_syscalls.sh build/bench/courier-load \
#            build/examples/server/courier-server --store memory
set -euo pipefail
load=$1 server=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$load" --workloads W1 --server "$server" "$@" >"$tmp/out" 2>"$tmp/err" &
lp=$!
for _ in $(seq 1 3000); do
  grep -q "running W1" "$tmp/err" && break
  sleep 0.1
done
pid=$(pgrep -n -f "$server")
events=syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex
events=$events,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write,syscalls:sys_enter_read
perf stat -e "$events,context-switches" -p "$pid" -o "$tmp/perf" &
pp=$!
wait $lp || { cat "$tmp/err" >&2; exit 1; }
wait $pp || true
msgs=$(grep -o "^courier-load: W1: [0-9]* messages" "$tmp/err" | awk '{print $3}')
[ -n "$msgs" ] || { echo "no W1 message count in courier-load's log" >&2; exit 1; }
cat "$tmp/out"
awk -v m="$msgs" '/syscalls:|context-switches/ {
  gsub(",", "", $1); n = $2; sub("syscalls:sys_enter_", "", n)
  printf "server %s_per_msg %.2f\n", n, $1 / m }' "$tmp/perf"
