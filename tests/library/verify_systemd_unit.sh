#!/usr/bin/env bash
# verify_systemd_unit.sh UNIT [SERVER]: `systemd-analyze verify` on the example
# unit, with ExecStart pointed at SERVER (the built courier-server; verify
# needs an executable there). Any warning fails the test too. Exits 77
# (reported as skipped by ctest) when systemd-analyze is not installed.
set -euo pipefail
unit=$1
server=${2:-/bin/true}
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: systemd-analyze not installed (apt-get install systemd)"
  exit 77
fi
if [ ! -x "$server" ]; then
  echo "note: $server is not built; ExecStart checked with /bin/true"
  server=/bin/true
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(basename "$unit")
sed "s|/usr/local/bin/courier-server|$server|" "$unit" >"$work/$name"
# The hardening this example promises: each line present, as written.
for line in DynamicUser=yes StateDirectory=courier ProtectSystem=strict NoNewPrivileges=yes \
  PrivateTmp=yes ProtectHome=yes CapabilityBoundingSet= 'Environment=COURIER_DATA_DIR=%S/courier'; do
  grep -qxF -- "$line" "$work/$name" || { echo "missing: $line"; exit 1; }
done
out=$(cd "$work" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "./$name" 2>&1) || {
  echo "$out"
  exit 1
}
if [ -n "$out" ]; then
  echo "systemd-analyze verify warned:"
  echo "$out"
  exit 1
fi
echo "systemd-analyze verify: $name OK"
