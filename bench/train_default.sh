#!/usr/bin/env bash
# Train the bundled default model with the project's own commands, from nothing.
# Resumable: run it again after an interruption and every step continues where it stopped.
#   bash bench/train_default.sh            # data -> train -> copy into the package
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
RUN=${RUN:-runs/default}
# Training pairs: synthetic songs rendered with Fluid R3 GM, both producers.
[ -f "$DATA/train_pairs/manifest.jsonl" ] || \
  stemprover pairs --out "$DATA/train_pairs" --synthetic 48 --seconds 8 --seed 100 -q
stemprover train --pairs "$DATA/train_pairs" --out "$RUN" --config base "$@"
rm -rf src/stemprover/weights/default
mkdir -p src/stemprover/weights
cp -r "$RUN/model" src/stemprover/weights/default
echo "default model -> src/stemprover/weights/default"
