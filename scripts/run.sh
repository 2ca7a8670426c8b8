#!/usr/bin/env bash
# Quick start: builds the CLI, makes a small random model and three adapters of different ranks
# (cached under .cache/), and runs one prompt per adapter through the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache/quickstart
dotnet build src/LoRAQueue.Cli -c Release --nologo -v q -o .cache/cli >/dev/null
lq() { dotnet .cache/cli/loraqueue.dll "$@"; }
[ -f "$cache/model/config.json" ] || lq model create --preset small --out "$cache/model" --seed 1
for r in 8 32 128; do
  [ -f "$cache/rank$r/adapter_config.json" ] || lq adapter create --model "$cache/model" --rank "$r" --out "$cache/rank$r" --seed "$r"
done
lq generate --model "$cache/model" --prompt "Serving many adapters" --max-tokens 16
for r in 8 32 128; do
  lq generate --model "$cache/model" --adapter "$cache/rank$r" --prompt "Serving many adapters" --max-tokens 16
done
lq bench kernels
