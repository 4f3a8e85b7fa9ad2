#!/usr/bin/env bash
# courier-cli chat, driven in tmux against a real courier-server (started here on a
# free port with a temp data dir):
#   tests/cli/chat_tmux_test.sh /path/to/courier-server /path/to/courier-cli
# alice logs in at a password prompt (no echo) and runs `chat` in one tmux pane; bob
# uses the plain commands, then `chat` in a second pane. Keys go in with
# `tmux send-keys`; every check polls `tmux capture-pane` until the screen shows
# what it waits for (generous timeouts, no fixed sleeps): the friend list with
# presence, a message from bob, alice's ticks going ✓ → ✓✓ → blue ✓✓ as bob's
# device acks and bob reads, bob's reply arriving live, presence changes, "bob is
# typing…", a group made with `group create` used in both chats (its lines, sender
# names, typing, ticks, a member leaving).
# Exit 77 (skipped) when tmux is not installed. Ends with "N passed, N failed".
set -uo pipefail

server_bin="${1:?usage: chat_tmux_test.sh COURIER_SERVER COURIER_CLI}"
cli_bin="${2:?usage: chat_tmux_test.sh COURIER_SERVER COURIER_CLI}"
if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIPPED: cli_chat_tmux: tmux is not installed (cmake/install-deps.sh installs it)"
  exit 77
fi
WAIT="${CHAT_TEST_WAIT:-120}"  # seconds any one screen may take to appear
export LANG=C.UTF-8 LC_ALL=C.UTF-8
unset COURIER_CLI_TOKEN_FILE COURIER_SERVER_URL TMUX
source "$(dirname "${BASH_SOURCE[0]}")/cli_testlib.sh"
cli_testlib_init chat-test

sock="$tmp/tmux.sock"
T() { tmux -S "$sock" -f /dev/null "$@"; }
before_cleanup() { T kill-server >/dev/null 2>&1; }

# wait_screen PANE PERL-REGEX [capture-pane flags...]: polls the pane until a line
# matches, up to $WAIT s; on a timeout prints the last screen.
wait_screen() {
  local pane="$1" re="$2"
  shift 2
  local deadline=$((SECONDS + WAIT))
  while :; do
    T capture-pane -p "$@" -t "$pane" >"$tmp/screen.$pane" 2>/dev/null
    grep -qP -- "$re" "$tmp/screen.$pane" && return 0
    ((SECONDS >= deadline)) && break
    sleep 0.2
  done
  echo "# timed out after ${WAIT}s waiting for /$re/ on pane $pane; it shows:" >&2
  sed 's/^/#   /' "$tmp/screen.$pane" >&2
  return 1
}

# The pane's line matching REGEX (plain text, or with colours for -e), or nothing.
pane_line() {
  local pane="$1" re="$2"
  shift 2
  T capture-pane -p "$@" -t "$pane" | grep -P -- "$re" | head -1
}

absent() { ! grep -qF -- "$1" "$2"; }         # absent TEXT FILE
keys() { T send-keys -t "$1" "${@:2}"; }       # keys PANE KEY... (tmux key names)
type_text() { T send-keys -t "$1" -l "$2"; }   # literal text

# --- server and accounts ----------------------------------------------------
if ! start_server "$tmp/data"; then
  echo "0 passed, 1 failed"
  exit 1
fi

PW="a long password"
printf '%s\n' "$PW" >"$tmp/pw"
chmod 600 "$tmp/pw"
B=("$cli_bin" --server "ws://$addr" --token-file "$tmp/bob.token")
"$cli_bin" --server "ws://$addr" --token-file "$tmp/x.token" register alice --password-file "$tmp/pw" >/dev/null &&
  "${B[@]}" register bob --password-file "$tmp/pw" >/dev/null &&
  "${B[@]}" login bob --password-file "$tmp/pw" >/dev/null &&
  "${B[@]}" friend alice >/dev/null
check "accounts: alice and bob registered, bob asked alice" [ $? -eq 0 ]

# alice's settings: the server, from settings.json under her XDG config directory.
mkdir -p "$tmp/xdg-alice" && mkdir -m 700 "$tmp/xdg-alice/courier"
printf '{"server": "ws://%s"}\n' "$addr" >"$tmp/xdg-alice/courier/settings.json"
cat >"$tmp/alice.sh" <<EOF
export XDG_CONFIG_HOME="$tmp/xdg-alice"
"$cli_bin" login alice >/dev/null && "$cli_bin" accept bob >/dev/null && "$cli_bin" chat
echo "[alice's chat exited \$?]"
exec sleep 100000
EOF
cat >"$tmp/bob.sh" <<EOF
export COURIER_CLI_TOKEN_FILE="$tmp/bob.token"
"$cli_bin" chat alice
echo "[bob's chat exited \$?]"
exec sleep 100000
EOF

cat >"$tmp/carol.sh" <<EOF
export XDG_CONFIG_HOME="$tmp/xdg-carol" COURIER_SERVER_URL="ws://$addr"
"$cli_bin" login dave
echo "[login exited \$?]"
"$cli_bin" register carol >/dev/null
echo "[register exited \$?]"
exec sleep 100000
EOF

# --- the prompts alone: Ctrl-C at a prompt, register asks twice ----------------
# The login is dave's so that its prompt, still on the screen, is never taken
# for register's (a test that typed before register's prompt was up saw the
# terminal echo the password: CI of b60a7ff).
T new-session -d -s C -x 100 -y 10 "bash $tmp/carol.sh"
check "login asks for dave's password" wait_screen C 'Password for dave: ?$'
keys C C-c
check "Ctrl-C at the prompt: exit status 130" wait_screen C '^\[login exited 130\]'
check "register asks for the password" wait_screen C 'Password for carol: ?$'
type_text C "$PW"
keys C Enter
check "register asks for it again" wait_screen C 'The same password again: ?$'
type_text C "$PW"
keys C Enter
check "register with a prompted password: exit status 0" wait_screen C '^\[register exited 0\]'
T capture-pane -p -S -1000 -t C >"$tmp/history.C"
check "the prompted password never appeared on the terminal" absent "$PW" "$tmp/history.C"

T new-session -d -s A -x 100 -y 30 "bash $tmp/alice.sh"
check "tmux session for alice" [ $? -eq 0 ]

# --- login at the prompt, without echo ----------------------------------------
check "login asks for the password" wait_screen A 'Password for alice: ?$'
type_text A "$PW"
keys A Enter
check "chat: the list shows alice's friend bob" wait_screen A '› bob'
check "the token went to \$XDG_CONFIG_HOME/courier/token, mode 0600" \
  [ "$(stat -c %a "$tmp/xdg-alice/courier/token" 2>/dev/null)" = 600 ]
check "chat connects" wait_screen A 'courier · alice +connected'
check "presence: bob never seen: offline" wait_screen A 'bob +○ offline'

# --- presence -------------------------------------------------------------------
"${B[@]}" listen --device phone >"$tmp/bob-listen.out" 2>"$tmp/bob-listen.err" &
listen_pid=$!
bg_pids+=("$listen_pid")
check "presence: bob online while his device is connected" wait_screen A 'bob +● online'
check "presence: online is green" wait_screen A '\e\[[0-9;]*32m●' -e
kill -INT "$listen_pid"
wait "$listen_pid"
check "presence: bob gone: last seen HH:MM" wait_screen A 'bob +○ last seen [0-9]{2}:[0-9]{2}'

# --- a message from bob -----------------------------------------------------------
"${B[@]}" send alice "hello from bob" >"$tmp/sent-bob" 2>&1
check "bob's message is counted unread in the list" wait_screen A 'bob +.*1 new'
keys A Enter
check "Enter opens the conversation: bob's message is there" wait_screen A '[0-9]{2}:[0-9]{2} bob: hello from bob'
check "the conversation's title: bob and his presence" wait_screen A '^ bob · ○ last seen'

# --- alice's message: ✓, then ✓✓ (delivered), then blue ✓✓ (read) -------------------
type_text A "hi from alice"
check "typed text shows on the input line" wait_screen A '^> hi from alice$'
keys A Enter
check "own message: ✓ once stored" wait_screen A 'me: hi from alice ✓$'
check "the input line is empty again" wait_screen A '^> ?$'

"${B[@]}" listen --device phone --until-synced >"$tmp/bob-phone.out" 2>"$tmp/bob-phone.err"
check "bob's device gets alice's message" grep -q '"body":"hi from alice"' "$tmp/bob-phone.out"
check "opening the conversation told the server bob's message was read" \
  grep -q '"op":"receipt".*"status":"read"' "$tmp/bob-phone.out"
check "own message: ✓✓ once bob's device acked it" wait_screen A 'me: hi from alice ✓✓$'
line="$(pane_line A 'hi from alice' -e)"
check "... not yet in the read colour" [ -n "$line" ] && ! grep -qP '\e\[[0-9;]*34m✓✓' <<<"$line"

T new-session -d -s B -x 100 -y 30 "bash $tmp/bob.sh"
check "bob's chat opens alice's conversation (chat alice) with her message" \
  wait_screen B '[0-9]{2}:[0-9]{2} alice: hi from alice'
check "own message: blue ✓✓ once bob has read it" wait_screen A 'hi from alice \e\[[0-9;]*34m✓✓' -e
check "presence: bob online again, in the conversation's title" wait_screen A '^ bob · ● online'
check "bob sees alice online" wait_screen B '^ alice · ● online'

# --- bob's reply, live, read at once since alice has the conversation open -----------
type_text B "got it, thanks"
keys B Enter
check "bob's reply appears on alice's screen as it arrives" wait_screen A 'bob: got it, thanks'
check "bob's ticks turn blue: alice's open conversation read it" wait_screen B 'got it, thanks \e\[[0-9;]*34m✓✓' -e

# --- typing (1:1): bob types, alice sees it until he sends ---------------------------
type_text B "one more"
check "typing: alice sees \"bob is typing…\" under the conversation" wait_screen A '^ bob is typing…$'
keys B Enter
check "typing: gone once bob sent" wait_screen A 'bob: one more'
check "... the help line is back" wait_screen A '^ Enter send · Esc back'

# --- a group: made with the command, used in both chats --------------------------------
XDG_CONFIG_HOME="$tmp/xdg-alice" "$cli_bin" group create trip bob >"$tmp/group.out" 2>"$tmp/group.err"
check "group create (alice, with bob)" grep -q '"op":"group_ok"' "$tmp/group.out"
gid="$(sed -n 's/.*"group":"\([^"]*\)".*/\1/p' "$tmp/group.out")"
keys A Escape
check "the group is listed after the friends, with its member count" wait_screen A '^   # trip +2 members'
keys A Down Enter
check "alice opens it: the creation line, the members in the title" wait_screen A 'alice created the group "trip" with bob'
check "... the title names the group and its members" wait_screen A '^ # trip · you and bob'
keys B Escape
check "bob's list has the group" wait_screen B '# trip'
keys B Down Enter
check "bob opens the group" wait_screen B 'alice created the group "trip" with bob'
type_text B "hi group"
check "typing in a group: alice sees it" wait_screen A '^ bob is typing…$'
keys B Enter
check "bob's group message on alice's screen, with his name" wait_screen A '[0-9]{2}:[0-9]{2} bob: hi group'
type_text A "hello both"
keys A Enter
check "alice's group message turns blue once bob (looking at it) read it" wait_screen A 'me: hello both \e\[[0-9;]*34m✓✓' -e
check "bob sees it with alice's name" wait_screen B '[0-9]{2}:[0-9]{2} alice: hello both'
"${B[@]}" group leave "$gid" >/dev/null 2>&1
check "bob leaves (the command): both chats show the line" wait_screen A 'bob left'
check "... bob's too" wait_screen B 'bob left'
type_text B "x"
keys B Enter
check "bob can no longer send there" wait_screen B 'you are no longer a member of this group'
keys B Escape Up Enter
check "bob back in alice's conversation" wait_screen B '^ alice · ● online'
keys A Escape Up Enter
check "alice back in bob's conversation" wait_screen A '^ bob · ● online'

# --- quitting -----------------------------------------------------------------------
keys B C-c
check "Ctrl-C ends bob's chat with status 0" wait_screen B "\\[bob's chat exited 0\\]"
check "presence: alice sees bob leave" wait_screen A '^ bob · ○ last seen'
keys A Escape
check "Escape goes back to the list" wait_screen A '› bob +○ last seen'
keys A q
check "q ends alice's chat with status 0" wait_screen A "\\[alice's chat exited 0\\]"
T capture-pane -p -S -1000 -t A >"$tmp/history.A"
check "the password prompt was shown" grep -q 'Password for alice:' "$tmp/history.A"
check "the password never appeared on the terminal" absent "$PW" "$tmp/history.A"

finish
