# What the courier-cli shell tests share; sourced by cli_test.sh and
# chat_tmux_test.sh once they set server_bin, cli_bin and (optionally) WAIT.
#
#   cli_testlib_init NAME   checks server_bin and cli_bin, makes $tmp (a fresh
#                           temp dir) and the EXIT trap that cleans up
#   bg_pids                 background pids the trap kills (append to it)
#   server_pid              the running courier-server, SIGTERMed by the trap
#                           (set it to "" once the test stopped it itself)
#   before_cleanup          a function the test may define; the trap runs it first
#   check NAME COMMAND...   runs COMMAND, counts and prints "ok - NAME" or
#                           "FAILED - NAME"
#   wait_file FILE PATTERN  polls until FILE holds PATTERN, up to $WAIT s (120);
#                           on a timeout prints FILE and returns 1
#   start_server DIR [FLAG...]  courier-server on a free loopback port with data
#                           dir DIR; sets server_pid and addr (HOST:PORT) once it
#                           listens, else prints its stderr and returns 1
#   finish                  prints "N passed, N failed"; status 0 only when
#                           nothing failed
WAIT="${WAIT:-120}"
server_pid=""
bg_pids=()
passed=0
failed=0

cli_testlib_init() {
  local name="$1" b
  for b in "$server_bin" "$cli_bin"; do
    [[ -x "$b" ]] || { echo "$name: not executable: $b" >&2; exit 1; }
  done
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/courier-$name.XXXXXX")"
  trap cli_testlib_cleanup EXIT
}

cli_testlib_cleanup() {
  if declare -F before_cleanup >/dev/null; then before_cleanup; fi
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}

check() {
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok - $name"
  else
    failed=$((failed + 1))
    echo "FAILED - $name"
  fi
}

wait_file() {
  local deadline=$((SECONDS + WAIT))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "# timed out after ${WAIT}s waiting for '$2' in $1:" >&2
      sed 's/^/#   /' "$1" >&2 2>/dev/null
      return 1
    fi
    sleep 0.1
  done
}

start_server() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  : >"$tmp/server.out"
  "$server_bin" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$dir" "$@" \
    >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  if ! wait_file "$tmp/server.out" "listening on"; then
    cat "$tmp/server.err" >&2
    return 1
  fi
  addr="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$tmp/server.out" | head -1)"
  echo "# courier-server on $addr"
}

finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
