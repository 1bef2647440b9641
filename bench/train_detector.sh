#!/usr/bin/env bash
# Train the bundled artifact detector (`analyze`) and measure it on a held-out set rendered
# with a SoundFont it was not trained on.
#   bash bench/train_detector.sh
# ~30 min on a 2-core CPU: pairs 5 min, features 3 min, 3000 steps ~20 min.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
DATA="$DATA" bash bench/detector_pairs.sh
SF=$(python -c "from stemprover.data import synth; print(synth.bundled_soundfont())")
[ -f "$DATA/detector_eval/manifest.jsonl" ] || stemprover pairs --out "$DATA/detector_eval" \
  --synthetic 32 --seconds 8 --seed 9200 --soundfont "$SF" --producer simulate --split test -q
stemprover detector train --pairs "$DATA/detector_pairs" --out runs/detector --overwrite "$@"
rm -rf src/stemprover/weights/detector
cp -r runs/detector src/stemprover/weights/detector
python bench/analyze_auroc.py "$DATA/detector_eval" --split test --limit 128 --save
python bench/analyze_auroc.py "$DATA/detector_eval" --split test --limit 128 --detector heuristic --save
python bench/analyze_auroc.py "$DATA/detector_eval" --split test --limit 128 --mix --save
