#!/usr/bin/env bash
# The scale run of docs/cluster.md, on servers of its own (scripts/services.sh with a private env file, stopped on exit):
# a 3-node RabbitMQ cluster, Redis and Postgres, migrated; tenant "cluster"; then `loraqueue bench cluster`, which creates and
# registers the trace's adapters, starts 2 gateways, 2 schedulers and N emulated workers as processes of their own, replays the
# trace through the gateways, counts every job and sets the twin's prediction beside it.
#
#   scripts/cluster.sh --trace prod.csv [bench cluster options: --workers 32 --profile a100 --rate-scale 1 --faults plan.json --json --out report.json]
#   LORAQUEUE_RABBITMQ_NODES=1 scripts/cluster.sh …    # one RabbitMQ node instead of three
set -euo pipefail
cd "$(dirname "$0")/.."
export MASSTRANSIT_USAGE_TELEMETRY=false
dir=$PWD/.cache/cluster
mkdir -p "$dir"
export LORAQUEUE_SERVICES_ENV=$dir/services.env

cleanup() {
  local status=$?
  bash scripts/services.sh stop || true
  exit "$status"
}
trap cleanup EXIT

bash scripts/services.sh start --rabbitmq-nodes "${LORAQUEUE_RABBITMQ_NODES:-3}"
eval "$(bash scripts/services.sh env)"
[ -n "${LORAQUEUE_SKIP_BUILD:-}" ] || dotnet build src/LoRAQueue.Cli -c Release --nologo -v q
L="dotnet src/LoRAQueue.Cli/bin/Release/net10.0/loraqueue.dll"
$L db migrate
key=$($L tenant create cluster --requests-per-minute 10000000 --json | grep -o '"api_key": *"[^"]*"' | sed 's/.*"\(lq_[^"]*\)"/\1/')
[ -n "$key" ] || { echo "cluster.sh: no API key from tenant create" >&2; exit 1; }
echo "cluster.sh: servers up (env: $LORAQUEUE_SERVICES_ENV); running bench cluster" >&2

$L bench cluster --api-key "$key" --tenant cluster --services-env "$LORAQUEUE_SERVICES_ENV" \
  --model "$dir/model" --adapter-store "$dir/adapters" --work-dir "$dir" "$@"
