#!/usr/bin/env bash
# The fault drill of docs/reliability.md, on servers of its own (scripts/services.sh with a private env file, stopped
# on exit): a tiny model, tenant "drill", `loraqueue serve all`, then `loraqueue bench outages`, which loads the stack
# over HTTP and raw AMQP while it stops and starts Postgres and RabbitMQ, and prints the table.
#
#   scripts/reliability.sh [bench outages options: --rate 8 --steady 20 --postgres-outage 30 --rabbitmq-outage 20]
set -euo pipefail
cd "$(dirname "$0")/.."
export MASSTRANSIT_USAGE_TELEMETRY=false
dir=$PWD/.cache/reliability
mkdir -p "$dir"
export LORAQUEUE_SERVICES_ENV=$dir/services.env
serve_pid=

cleanup() {
  local status=$?
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  bash scripts/services.sh stop || true
  exit "$status"
}
trap cleanup EXIT

bash scripts/services.sh start
eval "$(bash scripts/services.sh env)"
dotnet build src/LoRAQueue.Cli -c Release --nologo -v q
L="dotnet src/LoRAQueue.Cli/bin/Release/net10.0/loraqueue.dll"
[ -d "$dir/model" ] || $L model create --preset tiny --out "$dir/model" --seed 7 >/dev/null
mkdir -p "$dir/adapters"
$L db migrate
key=$($L tenant create drill --requests-per-minute 100000 --json | grep -o '"api_key": *"[^"]*"' | sed 's/.*"\(lq_[^"]*\)"/\1/')
[ -n "$key" ] || { echo "reliability.sh: no API key from tenant create" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
LORAQUEUE__MODEL__PATH=$dir/model LORAQUEUE__ADAPTERSTORE__PATH=$dir/adapters LORAQUEUE__WEBHOOKS__ALLOWEDNETWORKS=127.0.0.0/8 \
  $L serve all --urls "http://127.0.0.1:$port" >"$dir/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { tail -30 "$dir/serve.log" >&2; exit 1; }
echo "reliability.sh: stack up on :$port (log: $dir/serve.log)" >&2

$L bench outages --gateway "http://127.0.0.1:$port" --api-key "$key" --out "$dir/table.md" "$@"
