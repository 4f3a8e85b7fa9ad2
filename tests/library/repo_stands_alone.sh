#!/usr/bin/env bash
# repo_stands_alone.sh SOURCE_DIR: issue 14 items 1 and 2, checked on the tree.
#  1. docs/ holds the wire protocol, the design and the benchmark workloads;
#     every docs/NAME.md that a file names exists; no file points at a path
#     outside the repository (the old /work/... home of PROTOCOL.md).
#  2. cmake/install-deps.sh installs by purpose: `server` has no test, bench or
#     cluster tool, the tools something uses are in their purpose (gnuplot:
#     bench, nginx: cluster); the README's server command installs `server`
#     only and says how long its commands take; the default data dir is in
#     .gitignore.
# Prints each failure; exits 1 if any.
set -uo pipefail
src=${1:?usage: repo_stands_alone.sh SOURCE_DIR}
cd "$src" || exit 1
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# Text files of the repository, without build output and vendored modules.
files() {
  find . \( -path ./build -o -path './build*' -o -path '*/node_modules' -o -path ./.git \
            -o -path ./.cache \) -prune -o -type f \
         \( -name '*.md' -o -name '*.h' -o -name '*.cc' -o -name '*.py' -o -name '*.sh' \
            -o -name '*.txt' -o -name '*.cmake' -o -name '*.js' -o -name '*.html' \
            -o -name '*.service' -o -name '*.in' \) -print |
    grep -v '^./tests/library/repo_stands_alone.sh$'
}

# --- 1
for doc in docs/PROTOCOL.md docs/DESIGN.md docs/BENCH.md; do
  [ -s "$doc" ] || fail "$doc is missing or empty"
done
grep -q "Close codes" docs/PROTOCOL.md || fail "docs/PROTOCOL.md has no close codes"
grep -q "Admin API" docs/PROTOCOL.md || fail "docs/PROTOCOL.md has no admin API"
for named in $(files | xargs grep -ohE 'docs/[A-Z][A-Za-z_]*\.md' 2>/dev/null | sort -u); do
  [ -f "$named" ] || fail "$named is named in the tree but does not exist"
done
outside=$(files | xargs grep -lE '(/work/(main|shared)|\.\./\.\./PROTOCOL\.md)' 2>/dev/null)
[ -z "$outside" ] || fail "files pointing outside the repository: $outside"

# --- 2
deps=cmake/install-deps.sh
server=$(bash "$deps" --list server) || fail "$deps --list server failed"
for pkg in catch2 redis-server postgresql python3-pytest gnuplot-nox nginx clang-14 tmux \
           libbenchmark-dev; do
  grep -qw -- "$pkg" <<<"$server" && fail "the server purpose installs $pkg"
done
grep -qw gnuplot-nox <<<"$(bash "$deps" --list bench)" || fail "bench lacks gnuplot-nox"
grep -qw nginx <<<"$(bash "$deps" --list cluster)" || fail "cluster lacks nginx"
grep -qw catch2 <<<"$(bash "$deps" --list tests)" || fail "tests lacks catch2"
bash "$deps" --list nonsense >/dev/null 2>&1 && fail "an unknown purpose is accepted"
grep -q 'install-deps.sh server' README.md || fail "README's server command is not 'install-deps.sh server'"
grep -qE '[0-9]+ min' README.md || fail "README does not say how long its commands take"
grep -qxF '/courier-data/' .gitignore || fail ".gitignore lacks the default data dir /courier-data/"
grep -q '"./courier-data"' examples/server/options.h ||
  fail "the default --data-dir is no longer ./courier-data: update .gitignore and this test"

[ $failed -eq 0 ] && echo "repository stands alone; install-deps by purpose: OK"
exit $failed
