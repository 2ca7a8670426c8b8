#!/usr/bin/env bash
# The whole test suite. Installs nothing today (issue 2 needs only the .NET SDK); the pipeline
# issue adds RabbitMQ, Redis and PostgreSQL started on loopback by this script.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test LoRAQueue.sln -c Release --nologo 2>&1 | tee "$log" || status=$?

# One plain closing line that any CI reads: "tests: N passed, N failed, N skipped".
awk '/(Passed|Failed)! +- +Failed:/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) {
         if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
