#!/usr/bin/env bash
# A Courier cluster on one machine, all on loopback, all in one temp dir:
# a private redis-server and PostgreSQL (tests/services/*.sh), three
# courier-server nodes sharing them (same token and storage keys, node ids
# node-1..3), and nginx in front as the WebSocket load balancer on one port.
# Ctrl-C (or SIGTERM) stops everything and removes the temp dir.
#
#   bash examples/cluster/run-cluster.sh
#
# Environment: COURIER_SERVER (the binary; default: build it into
# $BUILD_DIR, ./build), PORT (nginx's port, default 8088), NODES (3),
# KEEP=1 (keep the temp dir and its logs), SERVER_ARGS (more flags for
# every node, split on spaces; bench/README.md's cluster figures use
# "--rate-limit 1000000000/1 --max-undelivered 400000"). Needs Debian's
# redis-server, postgresql and nginx: bash cmake/install-deps.sh cluster.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${PORT:-8088}
nodes=${NODES:-3}

die() { echo "run-cluster.sh: $*" >&2; exit 1; }

for tool in redis-server nginx python3; do
  command -v "$tool" >/dev/null || die "$tool not found (bash cmake/install-deps.sh cluster)"
done
nginx_bin=$(command -v nginx)

server=${COURIER_SERVER:-}
if [[ -z "$server" ]]; then
  build_dir=${BUILD_DIR:-$repo/build}
  echo "building courier-server in $build_dir ..."
  cmake -G Ninja -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build_dir" --target courier-server
  server=$build_dir/examples/server/courier-server
fi
[[ -x "$server" ]] || die "no courier-server at $server"

work=$(mktemp -d /tmp/courier-cluster.XXXXXX)
chmod 755 "$work"
pids=()
nginx_pid=
redis_up=0
pg_up=0

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping ..."
  if [[ -n "$nginx_pid" ]]; then kill -TERM "$nginx_pid" 2>/dev/null || true; fi
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}" $nginx_pid; do wait "$pid" 2>/dev/null || true; done
  if [[ $redis_up == 1 ]]; then "$repo/tests/services/redis.sh" stop "$work/redis" || true; fi
  if [[ $pg_up == 1 ]]; then "$repo/tests/services/postgres.sh" stop "$work/pg" 2>/dev/null || true; fi
  if [[ "${KEEP:-0}" == 1 ]]; then
    echo "logs kept in $work"
  else
    rm -rf "$work"
  fi
  echo "stopped"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# --- shared services
redis_url=$("$repo/tests/services/redis.sh" start "$work/redis" | sed -n 's/^export [A-Z_]*=//p')
redis_up=1
pg_url=$("$repo/tests/services/postgres.sh" start "$work/pg" 2>"$work/pg-start.log" |
  sed -n 's/^export [A-Z_]*=//p') || { cat "$work/pg-start.log" >&2; die "PostgreSQL did not start"; }
pg_up=1
echo "redis      $redis_url"
echo "postgresql $pg_url"

# --- the cluster's shared secrets (every node must have the same two files)
head -c 48 /dev/urandom >"$work/jwt-secret"
head -c 48 /dev/urandom >"$work/storage-key"
chmod 600 "$work/jwt-secret" "$work/storage-key"

# --- the nodes, each on a free loopback port (port 0; they print the real one)
upstreams=""
for i in $(seq 1 "$nodes"); do
  out="$work/node-$i.out"
  "$server" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --data-dir "$work/node-$i" --node-id "node-$i" \
    --store "$pg_url" --redis "$redis_url" \
    --jwt-secret-file "$work/jwt-secret" --storage-key-file "$work/storage-key" \
    ${SERVER_ARGS:-} >"$out" 2>"$work/node-$i.log" &
  pids+=($!)
  node_port=
  for _ in $(seq 1 600); do
    node_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -n 1)
    [[ -n "$node_port" ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/node-$i.log" >&2; die "node-$i exited"; }
    sleep 0.1
  done
  [[ -n "$node_port" ]] || die "node-$i did not start (see $work/node-$i.log)"
  admin_addr=$(sed -n 's/^admin on \(.*\)$/\1/p' "$out" | head -n 1)
  echo "node-$i     http://127.0.0.1:$node_port/  (metrics http://$admin_addr/metrics, log $work/node-$i.log)"
  upstreams+="    server 127.0.0.1:$node_port max_fails=1 fail_timeout=5s;"$'\n'
done

# --- nginx: one port for every client, WebSocket upgrade passed through
mkdir -p "$work/nginx"
nginx_user=""
if [[ $(id -u) -eq 0 ]]; then nginx_user="user root;"; fi
cat >"$work/nginx/nginx.conf" <<EOF
$nginx_user
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  # Which node served each request: the upstream column.
  log_format cluster '\$remote_addr [\$time_local] "\$request" \$status '
                     'upstream=\$upstream_addr time=\$request_time';
  access_log $work/nginx/access.log cluster;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  map \$http_upgrade \$connection_upgrade {
    default upgrade;
    ''      close;
  }
  upstream courier {
$upstreams  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://courier;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      # WebSockets stay open for hours; the server's own idle timeout
      # (4408) and pings decide when a connection is dead.
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
      # A node that refuses or resets is skipped for new connections.
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
EOF
"$nginx_bin" -t -q -c "$work/nginx/nginx.conf" -p "$work/nginx" ||
  die "nginx rejected $work/nginx/nginx.conf"
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 1 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
    break
  fi
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited (see $work/nginx/error.log)"
  sleep 0.1
done

echo
echo "cluster of $nodes nodes behind nginx: open http://127.0.0.1:$port/ in a browser"
echo "(each new connection may land on another node; Ctrl-C stops everything)"

# Run until Ctrl-C; say so when a process of the cluster dies on its own.
while true; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "node-$((i + 1)) exited; see $work/node-$((i + 1)).log" >&2
      unset "pids[$i]"
    fi
  done
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited (see $work/nginx/error.log)"
  sleep 1 &
  wait $! || true
done
