#!/usr/bin/env bash
# The detector's training pairs (128 songs, seeds 400+, both producers), which the
# phasiness and spectral-holes adapters also train on. Made once; later calls do nothing.
#   DATA=data bash bench/detector_pairs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
[ -f "$DATA/detector_pairs/manifest.jsonl" ] || stemprover pairs --out "$DATA/detector_pairs" \
  --synthetic 128 --seconds 8 --seed 400 --producer simulate=2 --producer mask -q
