#!/usr/bin/env bash
# Band-structure ablation: the default config with neither band attention nor band embeddings,
# trained on the same pairs for the same budget, scored on the same held-out pairs.
#   bash experiments/ablation_bands/ablation_bands.sh     (after bench/train_default.sh and `stemprover bench`)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
stemprover train --pairs "$DATA/train_pairs" --out runs/ablation_no_bands --config base \
  --set model.denoiser.band_attention=false --set model.denoiser.band_embedding=false -q
stemprover evaluate --pairs "$DATA/heldout_pairs" --out runs/ablation_eval --systems input \
  --model runs/ablation_no_bands/model --examples 0 --overwrite -q
python experiments/ablation_bands/ablation_table.py bench/results/heldout_eval/metrics.json runs/ablation_eval/metrics.json
