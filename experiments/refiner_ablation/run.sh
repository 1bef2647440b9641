#!/usr/bin/env bash
# Equal-budget ablations of the refiner: each variant trains on the default's data and
# schedule (2000-step cosine) and stops at step $AT, where its validation (the same crops as
# the default's run) is compared with the default run's at the same step. Validation pairs,
# not the held-out set. Resumable.
#   bash experiments/refiner_ablation/run.sh && python experiments/refiner_ablation/table.py
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-data}
AT=${AT:-250}
export OMP_WAIT_POLICY=PASSIVE
for spec in band_split_off:model.band_split=false mixture_off:model.mixture=false \
            mask_prior_off:model.mask_prior=false; do
  name=${spec%%:*}
  stemprover refiner train --pairs "$DATA/v2_fluid" --out "runs/ablation-$name" -q \
    --set "${spec#*:}" --set train.steps=2000 --set train.stop_at="$AT" --set train.validate_every="$AT"
done
