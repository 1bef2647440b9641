#!/usr/bin/env bash
# Train the bundled default model (the refiner's predictive stage) from nothing, with the
# project's own commands. Resumable: run it again after an interruption and it continues
# from its last checkpoint (every 100 steps).
#   bash bench/train_default.sh             # data -> refiner -> copy into the package
#   STEPS=6000 bash bench/train_default.sh  # larger, e.g. on a lent GPU
# Budget (2-core CPU, measured 2026-11-30): pairs ~5 min; 2000 steps (batch 4 x 2 s stereo
# crops, OMP_WAIT_POLICY=PASSIVE) ~45 min with nothing else running (~1.25 s/step, the
# multichannel Wiener estimate included).
# The diffusion stage (--steps N > 0) and its adapters are the bundled `latent` model:
# bench/train_latent.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
RUN=${RUN:-runs/refiner}
STEPS=${STEPS:-2000}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# 160 synthetic songs x 10 s (27 minutes of music) rendered with Fluid R3 GM, seeds never used
# by the bench (9001+); simulate and mask producers (umx is held out: it never trains the
# refiner); severities from nearly clean (0.05) to severe, so inputs span the quality range.
[ -f "$DATA/v2_fluid/manifest.jsonl" ] || \
  stemprover pairs --out "$DATA/v2_fluid" --synthetic 160 --seconds 10 --seed 20000 \
    --severity 0.05,1 -q
# Three modes per batch (stem alone 20%, stem + mixture, song: + the other stems), identity
# crops and the no-harm term after the first 40% (configs: RefinerTrainConfig). The EMA
# weights that score best on the validation songs are kept in $RUN/model.
stemprover refiner train --pairs "$DATA/v2_fluid" --out "$RUN" --set train.steps="$STEPS" "$@"
mkdir -p src/stemprover/weights/default
cp "$RUN"/model/config.json "$RUN"/model/model.safetensors src/stemprover/weights/default/
chmod 644 src/stemprover/weights/default/*
echo "default model -> src/stemprover/weights/default"
