#!/usr/bin/env bash
# Runs the browser tests (two_tab_demo, resilience, group_chat) against a courier-server binary.
#   tests/browser/run.sh /path/to/courier-server     (or COURIER_SERVER=... run.sh)
# Needs node >= 18, npm (reaches the npm registry once for playwright-core) and
# Debian's chromium (apt-get install -y chromium); no browser is downloaded.
# Exit codes: 0 passed, 1 failed, 77 skipped (chromium or node missing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
server="${1:-${COURIER_SERVER:-}}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [[ -z "$server" ]]; then
  echo "usage: $0 /path/to/courier-server" >&2
  exit 2
fi
if [[ ! -x "$server" ]]; then
  echo "run.sh: no executable courier-server at $server" >&2
  exit 1
fi
server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"
if [[ ! -x "$chromium" ]]; then
  echo "SKIPPED: browser_web_page: $chromium not found (apt-get install -y chromium)"
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: browser_web_page: node and npm are needed (apt-get install -y nodejs npm)"
  exit 77
fi

cd "$here"
# playwright-core only: never download a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
want="$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")"
have="$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")"
if [[ "$want" != "$have" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
COURIER_SERVER="$server" CHROMIUM="$chromium" exec node --test --test-concurrency=1 --test-reporter=spec \
  two_tab_demo.test.mjs resilience.test.mjs group_chat.test.mjs
