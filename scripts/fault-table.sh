#!/usr/bin/env bash
# Every fault of docs/reliability.md's table alone under traffic, repeated: one `scripts/cluster.sh` run (servers of its own) per
# plan in scripts/faults/ and repeat, then the table as markdown: jobs accepted and their fate summed over the runs, the recovery
# time of each run, what the first run's fault did, and the command that reproduces the row.
#
#   scripts/fault-table.sh --trace prod3-120.csv [--workers 8] [--repeats 2] [--only redis-restart,postgres-down] [--out DIR]
#
# Reports go to DIR (default .cache/cluster/fault-table/<time>): NAME-K.json per run, table.md at the end. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."
trace="" workers=8 repeats=2 only="" out=".cache/cluster/fault-table/$(date -u +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --trace) trace=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 --trace FILE [--workers N] [--repeats R] [--only a,b] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -f "$trace" ] || { echo "fault-table.sh: --trace FILE is required (a trace file; see docs/reliability.md)" >&2; exit 2; }
command -v jq >/dev/null || { echo "fault-table.sh: needs jq (apt-get install jq)" >&2; exit 2; }
mkdir -p "$out"
plans=()
for plan in scripts/faults/*.json; do
  name=$(basename "$plan" .json)
  if [ -z "$only" ] || [[ ",$only," == *",$name,"* ]]; then plans+=("$name"); fi
done
[ ${#plans[@]} -gt 0 ] || { echo "fault-table.sh: no plan matches --only $only (plans: $(ls scripts/faults))" >&2; exit 2; }
dotnet build src/LoRAQueue.Cli -c Release --nologo -v q >/dev/null
total=$(( ${#plans[@]} * repeats )) n=0
for name in "${plans[@]}"; do
  for k in $(seq "$repeats"); do
    n=$((n + 1))
    echo "fault-table: [$n/$total] $name, run $k ($(date -u +%H:%M:%S))" >&2
    LORAQUEUE_SKIP_BUILD=1 bash scripts/cluster.sh --trace "$trace" --workers "$workers" --profile a100 \
      --faults "scripts/faults/$name.json" --out "$out/$name-$k.json" >"$out/$name-$k.log" 2>&1 \
      || echo "fault-table: $name run $k exited $? (log: $out/$name-$k.log)" >&2
  done
done

{
  echo "| fault | runs | jobs accepted | lost | duplicated | stuck | one request, two jobs | webhooks twice | re-executed | recovery s (each run) | what the fault did (run 1) | command |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
  for name in "${plans[@]}"; do
    files=("$out/$name"-*.json)
    [ -f "${files[0]}" ] || { echo "| $name | 0 | no report (see $out/$name-*.log) |||||||||"; continue; }
    jq -rs --arg name "$name" --arg cmd "scripts/fault-table.sh --trace $(basename "$trace") --workers $workers --only $name" '
      def total(f): map(.jobs[] | select(.phase == "all") | f) | add;
      def batches: map(.batches[]?) | if length == 0 then ""
        else " (batch lines: \(map(.lines_with_a_job) | add)/\(map(.lines) | add) with a job, \(map(.lines_lost) | add) lost, \(map(.lines_duplicated) | add) twice)" end;
      "| \($name) | \(length) | \(total(.accepted)) | \(total(.lost)) | \(total(.duplicated)) | \(total(.stuck))"
      + " | \(map(.requests_with_two_jobs) | add)\(batches) | \(total(.webhooks_twice))\(map(.webhooks_redelivered // 0) | add | if . > 0 then " (+\(.) again under the same webhook-id)" else "" end) | \(total(.re_executed))"
      + " | \(map(.faults[0].recovery_s // "–" | tostring) | join(", "))"
      + " | \(.[0].faults[0].detail | gsub("\\|"; "/") | gsub("\n"; " ")) | `\($cmd)` |"' "${files[@]}"
  done
} | tee "$out/table.md"
echo "fault-table: reports and table.md in $out" >&2
