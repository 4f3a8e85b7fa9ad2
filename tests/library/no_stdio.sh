#!/usr/bin/env bash
# no_stdio.sh SOURCE_DIR: the library (core/ and adapters/) never writes to
# stdout or stderr on its own; diagnostics go through courier/log.h's sink.
# Fails on any code line (comments aside) that names stdout/stderr/cout/cerr/
# clog, printf, puts, perror, fmt::print or spdlog. core/src/log.cc is the one
# exception: StderrLogSink, a sink a host may choose.
set -euo pipefail
cd "$1"
pattern='std::(cout|cerr|clog)|\b(stdout|stderr|STDERR_FILENO|STDOUT_FILENO)\b|\b(f?printf|puts|fputs|perror)[[:space:]]*\(|fmt::print|spdlog'
hits=$(grep -rnE --include='*.cc' --include='*.h' --include='*.cpp' "$pattern" core adapters |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' |
  grep -vE '^core/src/log\.cc:' || true)
if [ -n "$hits" ]; then
  echo "the library writes to stdout/stderr on its own (use courier::Log, courier/log.h):"
  echo "$hits"
  exit 1
fi
echo "no direct stdout/stderr writes in core/ and adapters/"
