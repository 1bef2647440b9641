#!/usr/bin/env bash
# Train the bundled umx separator (the `umx` producer) with the project's own commands.
#   bash bench/train_separator.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
[ -f "$DATA/train_pairs/manifest.jsonl" ] || \
  stemprover pairs --out "$DATA/train_pairs" --synthetic 48 --seconds 8 --seed 100 -q
stemprover separator train --pairs "$DATA/train_pairs" --out runs/separator_umx --overwrite "$@" \
  | tee bench/results/train_separator/train_separator.txt
rm -rf src/stemprover/weights/separators/umx
mkdir -p src/stemprover/weights/separators
cp -r runs/separator_umx src/stemprover/weights/separators/umx
echo "umx separator -> src/stemprover/weights/separators/umx"
