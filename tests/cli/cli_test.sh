#!/usr/bin/env bash
# End-to-end test of courier-cli against a real courier-server, started here on a
# free port with a temp data dir:
#   tests/cli/cli_test.sh /path/to/courier-server /path/to/courier-cli
# Two users register and befriend, alice sends, bob's `listen` prints and acks it,
# the delivered and read receipts come back to alice; plus idempotent cids, resume
# from the cursor and from --since, live delivery, groups (create, list, send,
# the members' inbox events, refusals by code), SIGINT and the error exit codes;
# passwords only from --password-file (a command-line password is refused), the
# token and settings.json under the XDG config directory. (The prompt without
# echo and the chat mode are driven in tmux by chat_tmux_test.sh.)
# Ends with "N passed, N failed"; exit 0 only when nothing failed.
set -uo pipefail

server_bin="${1:?usage: cli_test.sh COURIER_SERVER COURIER_CLI}"
cli_bin="${2:?usage: cli_test.sh COURIER_SERVER COURIER_CLI}"
source "$(dirname "${BASH_SOURCE[0]}")/cli_testlib.sh"
cli_testlib_init cli-test

# Field $2 of the JSON object on line $3 (default 1) of file $1.
field() {
  python3 - "$1" "$2" "${3:-1}" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[3])
value = json.loads(lines[n - 1]).get(sys.argv[2]) if len(lines) >= n else None
print("" if value is None else (json.dumps(value) if not isinstance(value, str) else value))
EOF
}

lines() { grep -c . "$1" 2>/dev/null || true; }

# --- server ----------------------------------------------------------------
if ! start_server "$tmp/data"; then
  echo "0 passed, 1 failed"
  exit 1
fi

A=("$cli_bin" --server "ws://$addr" --token-file "$tmp/alice.token")
B=("$cli_bin" --server "http://$addr" --token-file "$tmp/bob.token")
PW="a long password"
printf '%s\n' "$PW" >"$tmp/pw"
printf 'short\n' >"$tmp/pw-short"
printf 'wrong password\n' >"$tmp/pw-wrong"

# --- accounts and friends --------------------------------------------------
"${A[@]}" register alice --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "register alice, password from a file" [ $? -eq 0 -a "$(field "$tmp/out" user)" = alice ]
echo "$PW" | "${B[@]}" register bob --password-file - >"$tmp/out" 2>"$tmp/err"
check "register bob, password from stdin (--password-file -)" [ $? -eq 0 ]
"${A[@]}" register alice --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "register a taken name exits 1" [ $? -eq 1 ]
"${A[@]}" register carol --password-file "$tmp/pw-short" >"$tmp/out" 2>"$tmp/err"
check "a short password is a usage error (2)" [ $? -eq 2 ]
"${A[@]}" login alice --password-file "$tmp/pw-wrong" >"$tmp/out" 2>"$tmp/err"
check "login with a wrong password exits 4" [ $? -eq 4 ]

# --- passwords never on the command line -----------------------------------
for argv in "login alice hunter2hunter2" "register carol hunter2hunter2" "login alice --password hunter2hunter2" \
  "register carol --password=hunter2hunter2"; do
  # shellcheck disable=SC2086  # split on purpose: the password is one argument too many
  "${A[@]}" $argv >"$tmp/out" 2>"$tmp/err"
  rc=$?
  grep -q -- "--password-file" "$tmp/err"
  named=$?
  check "a password in argv is refused (2), pointing at --password-file: ${argv%% *} ${argv#* }" \
    [ $rc -eq 2 -a $named -eq 0 -a ! -s "$tmp/out" ]
done
setsid -w "${A[@]}" login alice </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
grep -q -- "--password-file" "$tmp/err"
check "no terminal and no --password-file: usage error (2) naming --password-file" [ $rc -eq 2 -a $? -eq 0 ]
"${A[@]}" login alice --password-file "$tmp/no-such-file" >"$tmp/out" 2>"$tmp/err"
check "a missing password file is a usage error (2)" [ $? -eq 2 ]
: >"$tmp/pw-empty"
"${A[@]}" login alice --password-file "$tmp/pw-empty" >"$tmp/out" 2>"$tmp/err"
check "an empty password file is a usage error (2)" [ $? -eq 2 ]

# --- the XDG config directory ------------------------------------------------
env -u COURIER_CLI_TOKEN_FILE XDG_CONFIG_HOME="$tmp/xdg" "$cli_bin" --server "ws://$addr" login alice \
  --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "login stores the token in \$XDG_CONFIG_HOME/courier/token" [ $? -eq 0 -a \
  "$(field "$tmp/out" token_file)" = "$tmp/xdg/courier/token" ]
check "... mode 0600, its folder 0700" [ "$(stat -c %a "$tmp/xdg/courier/token")" = 600 -a \
  "$(stat -c %a "$tmp/xdg/courier")" = 700 ]
env -u COURIER_CLI_TOKEN_FILE XDG_CONFIG_HOME="$tmp/xdg" "$cli_bin" friends >"$tmp/out" 2>"$tmp/err"
check "... and the next command finds it (and the server of that login)" [ $? -eq 0 ]
mkdir -p "$tmp/home"
env -u COURIER_CLI_TOKEN_FILE -u XDG_CONFIG_HOME HOME="$tmp/home" "$cli_bin" --server "ws://$addr" login alice \
  --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "without XDG_CONFIG_HOME: ~/.config/courier/token" [ $? -eq 0 -a -f "$tmp/home/.config/courier/token" ]
printf '{"server": "ws://%s"}\n' "$addr" >"$tmp/home/.config/courier/settings.json"
env -u COURIER_CLI_TOKEN_FILE -u XDG_CONFIG_HOME HOME="$tmp/home" "$cli_bin" --token-file "$tmp/none" \
  register settings-user --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "settings.json gives the server" [ $? -eq 0 ]
printf '{"sever": "ws://%s"}\n' "$addr" >"$tmp/home/.config/courier/settings.json"
env -u COURIER_CLI_TOKEN_FILE -u XDG_CONFIG_HOME HOME="$tmp/home" "$cli_bin" friends >"$tmp/out" 2>"$tmp/err"
rc=$?
grep -q 'unknown key "sever"' "$tmp/err"
check "settings.json: an unknown key is a usage error (2) naming it" [ $rc -eq 2 -a $? -eq 0 ]
"${A[@]}" chat </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
grep -q "needs a terminal" "$tmp/err"
check "chat without a terminal is a usage error (2)" [ $rc -eq 2 -a $? -eq 0 ]
"${A[@]}" friends >"$tmp/out" 2>"$tmp/err"
check "friends before login exits 4" [ $? -eq 4 ]

"${A[@]}" login alice --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "login alice stores the token" [ $? -eq 0 -a -s "$tmp/alice.token" -a -n "$(field "$tmp/out" token)" ]
check "the token file is private (0600)" [ "$(stat -c %a "$tmp/alice.token")" = 600 ]
"${B[@]}" login bob --password-file "$tmp/pw" >"$tmp/out" 2>"$tmp/err"
check "login bob" [ $? -eq 0 ]

"${A[@]}" send bob "too early" >"$tmp/out" 2>"$tmp/err"
rc=$?
grep -q not_friends "$tmp/err"
named=$?
check "send to a non-friend exits 1 naming not_friends" [ $rc -eq 1 -a $named -eq 0 ]
"${A[@]}" friend bob >"$tmp/out" 2>"$tmp/err"
check "alice asks bob" [ $? -eq 0 -a "$(field "$tmp/out" status)" = requested ]
"${B[@]}" friends >"$tmp/out" 2>"$tmp/err"
check "bob sees alice's request" grep -q '"incoming":\["alice"\]' "$tmp/out"
"${A[@]}" accept carol >"$tmp/out" 2>"$tmp/err"
check "accepting a request nobody sent exits 1" [ $? -eq 1 ]
"${B[@]}" accept alice >"$tmp/out" 2>"$tmp/err"
check "bob accepts" [ $? -eq 0 -a "$(field "$tmp/out" status)" = friends ]
"${A[@]}" friends >"$tmp/out" 2>"$tmp/err"
check "alice's friends: bob" grep -q '"friends":\["bob"\]' "$tmp/out"

# --- send, listen, receipts --------------------------------------------------
"${A[@]}" send bob "hello bob" --cid c-1 >"$tmp/sent1" 2>"$tmp/err"
check "send prints sent" [ $? -eq 0 -a "$(field "$tmp/sent1" op)" = sent -a "$(field "$tmp/sent1" cid)" = c-1 ]
id1="$(field "$tmp/sent1" id)"
"${A[@]}" send bob "hello bob" --cid c-1 >"$tmp/out" 2>"$tmp/err"
check "the same cid again: dup, same id" [ "$(field "$tmp/out" dup)" = true -a "$(field "$tmp/out" id)" = "$id1" ]
printf 'second\nline' | "${A[@]}" send bob - >"$tmp/sent2" 2>"$tmp/err"
check "body from stdin" [ $? -eq 0 ]
id2="$(field "$tmp/sent2" id)"

"${B[@]}" listen --until-synced >"$tmp/bob1" 2>"$tmp/err"
check "bob's listen --until-synced exits 0" [ $? -eq 0 ]
check "bob got exactly the two messages" [ "$(lines "$tmp/bob1")" = 2 ]
check "first: from alice, the body, the id, seq 1" [ "$(field "$tmp/bob1" op)" = msg -a \
  "$(field "$tmp/bob1" from)" = alice -a "$(field "$tmp/bob1" body)" = "hello bob" -a \
  "$(field "$tmp/bob1" id)" = "$id1" -a "$(field "$tmp/bob1" seq)" = 1 ]
check "second: multi-line body kept" [ "$(field "$tmp/bob1" body 2)" = "$(printf 'second\nline')" ]

# Acks commit asynchronously: poll until the stored cursor covers them (an event
# not yet acked durably may legitimately come again).
for ((try = 0; try < 120; try++)); do
  "${B[@]}" listen --until-synced >"$tmp/bob2" 2>"$tmp/err" || break
  [[ "$(lines "$tmp/bob2")" = 0 ]] && break
  sleep 0.5
done
check "listen again: acked events are not sent again" [ "$(lines "$tmp/bob2")" = 0 ]
"${B[@]}" listen --since 0 --until-synced >"$tmp/bob3" 2>"$tmp/err"
check "listen --since 0 fetches them again" [ "$(lines "$tmp/bob3")" = 2 ]
"${B[@]}" listen --device phone --count 1 >"$tmp/bob4" 2>"$tmp/err"
check "another device gets them from the start (--count 1)" [ $? -eq 0 -a "$(lines "$tmp/bob4")" = 1 -a \
  "$(field "$tmp/bob4" id)" = "$id1" ]

"${A[@]}" listen --count 2 >"$tmp/alice1" 2>"$tmp/err"
check "alice gets delivered receipts" [ "$(field "$tmp/alice1" op)" = receipt -a \
  "$(field "$tmp/alice1" status)" = delivered -a "$(field "$tmp/alice1" by)" = bob ]
check "... one per message" [ "$(grep -c '"status":"delivered"' "$tmp/alice1")" = 2 ]
check "... for both ids" [ "$(field "$tmp/alice1" id 1) $(field "$tmp/alice1" id 2)" = "$id1 $id2" ]
alice_seq="$(field "$tmp/alice1" seq 2)"

"${B[@]}" read "$id1" >"$tmp/out" 2>"$tmp/err"
check "bob reads the first message" [ $? -eq 0 ]
"${A[@]}" listen --since "$alice_seq" --count 1 >"$tmp/alice2" 2>"$tmp/err"
check "alice gets exactly one read receipt, for it" [ "$(lines "$tmp/alice2")" = 1 -a \
  "$(field "$tmp/alice2" status)" = read -a "$(field "$tmp/alice2" id)" = "$id1" ]

# --- live delivery while listening -------------------------------------------
"${B[@]}" listen --count 1 >"$tmp/live" 2>"$tmp/live.err" &
live_pid=$!
bg_pids+=("$live_pid")
wait_file "$tmp/live.err" "listening as bob"
"${A[@]}" send bob "live one" >"$tmp/out" 2>"$tmp/err"
wait "$live_pid"
check "a running listen gets a live message and exits after --count" [ $? -eq 0 -a \
  "$(field "$tmp/live" body)" = "live one" ]

# --- groups (issue 17) ------------------------------------------------------
C=("$cli_bin" --server "ws://$addr" --token-file "$tmp/carol.token")
"${C[@]}" register carol --password-file "$tmp/pw" >/dev/null 2>&1 && "${C[@]}" login carol --password-file "$tmp/pw" \
  >/dev/null 2>&1 && "${C[@]}" friend alice >/dev/null 2>&1 && "${A[@]}" accept carol >/dev/null 2>&1
check "carol registers and befriends alice" [ $? -eq 0 ]
# Python checks on a JSON line: json_check FILE EXPRESSION (the object is `o`).
json_check() {
  python3 -c 'import json, sys; o = json.loads(open(sys.argv[1]).readline()); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}
"${A[@]}" group create trip bob carol --cid gc-1 >"$tmp/g1" 2>"$tmp/err"
check "group create prints group_ok with the new id" [ $? -eq 0 -a "$(field "$tmp/g1" op)" = group_ok -a \
  "$(field "$tmp/g1" changed)" = true -a "$(field "$tmp/g1" version)" = 1 ]
gid="$(field "$tmp/g1" group)"
"${A[@]}" group create trip bob carol --cid gc-1 >"$tmp/out" 2>"$tmp/err"
check "... the same cid again: dup, the same group" [ "$(field "$tmp/out" dup)" = true -a "$(field "$tmp/out" group)" = "$gid" ]
"${A[@]}" group list >"$tmp/out" 2>"$tmp/err"
check "group list: the group, its members and roles" json_check "$tmp/out" \
  "[(g['group'], g['name'], [(m['user'], m['role']) for m in g['members']]) for g in o['groups']] == \
   [('$gid', 'trip', [('alice', 'admin'), ('bob', 'member'), ('carol', 'member')])]"
"${A[@]}" group send "$gid" "hello group" --cid gs-1 >"$tmp/gs1" 2>"$tmp/err"
check "group send prints sent" [ $? -eq 0 -a "$(field "$tmp/gs1" op)" = sent -a "$(field "$tmp/gs1" cid)" = gs-1 ]
gmid="$(field "$tmp/gs1" id)"
"${B[@]}" listen --until-synced >"$tmp/bobg" 2>"$tmp/err"
check "bob's listen prints the group_event (create) and the group message, in order" python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kinds = [(e["op"], e.get("action"), e.get("group"), e.get("from") or e.get("by"), e.get("body")) for e in events if e.get("group") == sys.argv[2]]
sys.exit(0 if kinds == [("group_event", "create", sys.argv[2], "alice", None), ("msg", None, sys.argv[2], "alice", "hello group")] else 1)
' "$tmp/bobg" "$gid"
"${C[@]}" group add "$gid" alice >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a member who is not an admin cannot add (exit 1, not_admin)" [ $rc -eq 1 -a -n "$(grep not_admin "$tmp/err")" ]
"${A[@]}" group rename "$gid" "road trip" >"$tmp/out" 2>"$tmp/err"
check "the admin renames it" [ $? -eq 0 -a "$(field "$tmp/out" changed)" = true -a "$(field "$tmp/out" version)" = 2 ]
"${B[@]}" group list "$gid" >"$tmp/out" 2>"$tmp/err"
check "bob lists that group: the new name" json_check "$tmp/out" "o['groups'][0]['name'] == 'road trip'"
"${C[@]}" group leave "$gid" >"$tmp/out" 2>"$tmp/err"
check "carol leaves" [ $? -eq 0 -a "$(field "$tmp/out" op)" = group_ok ]
"${C[@]}" group send "$gid" "still here?" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "after leaving, a send is refused (exit 1, not_member)" [ $rc -eq 1 -a -n "$(grep not_member "$tmp/err")" ]
"${A[@]}" group send no-such-group "x" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a send to an unknown group exits 1 (unknown_group)" [ $rc -eq 1 -a -n "$(grep unknown_group "$tmp/err")" ]
"${A[@]}" group add "$gid" settings-user >"$tmp/out" 2>"$tmp/err"
check "adding someone who is not a friend exits 1 (not_friends)" [ $? -eq 1 -a -n "$(grep not_friends "$tmp/err")" ]
"${A[@]}" group send 'bad id!' "x" >"$tmp/out" 2>"$tmp/err"
check "a malformed group id is a usage error (2)" [ $? -eq 2 ]
"${B[@]}" listen --until-synced >"$tmp/bobg2" 2>"$tmp/err"
check "bob sees the rename and carol leaving" python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kinds = [(e["action"], e["by"], e.get("name")) for e in events if e["op"] == "group_event"]
sys.exit(0 if kinds == [("rename", "alice", "road trip"), ("leave", "carol", None)] else 1)
' "$tmp/bobg2"
"${A[@]}" listen --until-synced >"$tmp/aliceg" 2>"$tmp/err"
check "alice gets bob's delivered receipt for the group message" python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if any(e["op"] == "receipt" and e["id"] == sys.argv[2] and e["by"] == "bob" and e["status"] == "delivered" for e in events) else 1)
' "$tmp/aliceg" "$gmid"

# --- SIGINT -----------------------------------------------------------------
"${B[@]}" listen >"$tmp/int" 2>"$tmp/int.err" &
int_pid=$!
bg_pids+=("$int_pid")
wait_file "$tmp/int.err" "listening as bob"
kill -INT "$int_pid"
wait "$int_pid"
check "SIGINT stops listen with 130" [ $? -eq 130 ]

# --- errors -----------------------------------------------------------------
"${A[@]}" send nobody-here "x" >"$tmp/out" 2>"$tmp/err"
check "send to an unknown user exits 1" [ $? -eq 1 ]
"${A[@]}" --server "ftp://$addr" friends >"$tmp/out" 2>"$tmp/err"
check "a bad --server is a usage error (2)" [ $? -eq 2 ]

kill -TERM "$server_pid"
wait "$server_pid"
check "courier-server stops cleanly on SIGTERM" [ $? -eq 0 ]
server_pid=""
"${A[@]}" friends >"$tmp/out" 2>"$tmp/err"
check "an unreachable server exits 3" [ $? -eq 3 ]

# --- TLS (https:// and wss://) ----------------------------------------------
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
  if start_server "$tmp/data-tls" --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"; then
    port="${addr##*:}"
    C=("$cli_bin" --server "https://localhost:$port" --ca-file "$tmp/cert.pem" --token-file "$tmp/carol.token")
    D=("$cli_bin" --server "wss://localhost:$port" --ca-file "$tmp/cert.pem" --token-file "$tmp/dave.token")
    "$cli_bin" --server "https://localhost:$port" --token-file "$tmp/x.token" register eve --password-file "$tmp/pw" \
      >"$tmp/out" 2>"$tmp/err"
    rc=$?
    grep -q -i certificate "$tmp/err"
    named=$?
    check "TLS: an untrusted certificate is refused (exit 3, says why)" [ $rc -eq 3 -a $named -eq 0 ]
    "$cli_bin" --server "https://localhost:$port" --insecure --token-file "$tmp/x.token" register eve --password-file "$tmp/pw" \
      >"$tmp/out" 2>"$tmp/err"
    check "TLS: --insecure skips verification" [ $? -eq 0 ]
    "${C[@]}" register carol --password-file "$tmp/pw" >/dev/null 2>&1 &&
      "${C[@]}" login carol --password-file "$tmp/pw" >/dev/null 2>&1 &&
      "${D[@]}" register dave --password-file "$tmp/pw" >/dev/null 2>&1 &&
      "${D[@]}" login dave --password-file "$tmp/pw" >/dev/null 2>&1
    check "TLS: register and login with --ca-file" [ $? -eq 0 ]
    "${C[@]}" friend dave >/dev/null 2>&1 && "${D[@]}" friend carol >"$tmp/out" 2>&1
    check "TLS: requests from both sides make friends" [ "$(field "$tmp/out" status)" = friends ]
    "${C[@]}" send dave "over TLS" >"$tmp/out" 2>"$tmp/err"
    check "TLS: send over wss" [ $? -eq 0 -a "$(field "$tmp/out" op)" = sent ]
    "${D[@]}" listen --count 1 >"$tmp/out" 2>"$tmp/err"
    check "TLS: listen over wss" [ $? -eq 0 -a "$(field "$tmp/out" body)" = "over TLS" ]
    kill -TERM "$server_pid"
    wait "$server_pid"
    check "TLS courier-server stops cleanly" [ $? -eq 0 ]
  else
    check "TLS courier-server starts" false
  fi
  server_pid=""
else
  echo "# no openssl command: TLS checks not run"
fi

finish
