#!/usr/bin/env bash
# tests/services/postgres.sh: a private PostgreSQL cluster for the tests.
#
#   tests/services/postgres.sh start DIR   # prints one line to stdout:
#       export COURIER_TEST_POSTGRES_URL=postgresql://courier@127.0.0.1:PORT/courier
#   tests/services/postgres.sh stop DIR
#
# `start` creates a cluster in DIR/data with initdb (unless it exists), starts
# it with pg_ctl on a free loopback port (127.0.0.1 only; the unix socket
# lives in DIR/run), creates the role and database "courier", and prints the
# export line. initdb and postgres refuse to run as root: as root, the
# cluster runs as the `postgres` user (runuser) and DIR is handed to it.
# Everything else goes to stderr; the log is DIR/postgres.log.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 start|stop DIR"
cmd=$1
dir=$2

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n "$bindir" && -x "$bindir/pg_ctl" ]] ||
  die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)"

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
      id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as root"
      chown postgres: "$dir"
      chmod 700 "$dir"
      # The postgres user must be able to reach DIR.
      parent=$(dirname "$dir")
      while [[ "$parent" != "/" ]]; do
        chmod o+x "$parent" 2>/dev/null || true
        parent=$(dirname "$parent")
      done
    fi
    as_owner mkdir -p "$dir/run"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    port=$(free_port)
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/run -c max_connections=200 -c fsync=on" \
      start >&2 || { cat "$dir/postgres.log" >&2; die "pg_ctl start failed"; }
    echo "$port" >"$dir/port"
    psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    if [[ $("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'courier'") != 1 ]]; then
      "${psql[@]}" -c "CREATE ROLE courier LOGIN" >&2
    fi
    if [[ $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'courier'") != 1 ]]; then
      "${psql[@]}" -c "CREATE DATABASE courier OWNER courier" >&2
    fi
    echo "export COURIER_TEST_POSTGRES_URL=postgresql://courier@127.0.0.1:$port/courier"
    ;;
  stop)
    [[ -d "$dir/data" ]] || die "no cluster in $dir"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2
    ;;
  *)
    die "unknown command $cmd (start or stop)"
    ;;
esac
