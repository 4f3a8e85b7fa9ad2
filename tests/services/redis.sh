#!/usr/bin/env bash
# tests/services/redis.sh: a private redis-server for the tests.
#
#   tests/services/redis.sh start DIR   starts redis-server on a free loopback
#                                       port, daemonized, no persistence, its
#                                       pid, log and files in DIR, and prints
#                                       exactly one line:
#                                       export COURIER_TEST_REDIS_URL=redis://127.0.0.1:PORT
#   tests/services/redis.sh stop DIR    stops the server started in DIR.
#
# Usage: eval "$(tests/services/redis.sh start "$tmp")"; ...; tests/services/redis.sh stop "$tmp"
set -euo pipefail

die() { echo "redis.sh: $*" >&2; exit 1; }

free_port() {  # asks the kernel; without python3, a random high port (start retries)
  if command -v python3 >/dev/null; then
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

start() {
  local dir=$1
  command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    rm -f "$dir/redis.pid"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
      --logfile "$dir/redis.log" >/dev/null 2>&1 || continue
    local i
    for i in $(seq 1 100); do
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        echo "$port" > "$dir/redis.port"
        echo "export COURIER_TEST_REDIS_URL=redis://127.0.0.1:$port"
        return 0
      fi
      sleep 0.1
    done
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  done
  die "could not start redis-server (see $dir/redis.log)"
}

stop() {
  local dir=$1
  [ -f "$dir/redis.pid" ] || return 0
  local pid
  pid=$(cat "$dir/redis.pid")
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/redis.pid" "$dir/redis.port"
}

case "${1:-}" in
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start DIR | stop DIR" ;;
esac
