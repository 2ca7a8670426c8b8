#!/usr/bin/env bash
# The whole test suite, against real RabbitMQ, Redis and PostgreSQL that scripts/services.sh starts on
# loopback (installing them with apt-get when missing) and stops again on exit. Services already started
# by hand (`scripts/services.sh start`) are used as they are and left running.
#
#   scripts/test.sh                    everything (LoRAQueue.sln)
#   scripts/test.sh path/to/X.csproj   one project; further arguments go to `dotnet test`
set -euo pipefail
cd "$(dirname "$0")/.."

export MASSTRANSIT_USAGE_TELEMETRY=false
log=$(mktemp)
started_services=

cleanup() {
  local status=$?
  rm -f "$log"
  if [ -n "$started_services" ]; then bash scripts/services.sh stop || echo "test.sh: stopping the services failed" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if bash scripts/services.sh status 2>/dev/null; then
  echo "test.sh: using the services already running" >&2
else
  started_services=1
  bash scripts/services.sh start
fi
eval "$(bash scripts/services.sh env)"

target=${1:-LoRAQueue.sln}
[ $# -gt 0 ] && shift
status=0
dotnet test "$target" -c Release --nologo "$@" 2>&1 | tee "$log" || status=$?

# One plain closing line that any CI reads: "tests: N passed, N failed, N skipped".
awk '/(Passed|Failed)! +- +Failed:/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) {
         if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
