#!/usr/bin/env bash
# Train the bundled latent diffusion model (the refiner's diffusion stage; the default before 0.2) and its adapters with the project's own commands, from nothing.
# Resumable: run it again after an interruption and every step continues where it stopped.
#   bash bench/train_default.sh            # data -> base -> adapters -> copy into the package
# Budget (2-core CPU): base 1100 + 400 steps (~35 min), each adapter 400-500 steps (~8 min
# on two threads, ~10 min on one).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}
RUN=${RUN:-runs/default}
# Training pairs: synthetic songs rendered with Fluid R3 GM, both producers.
[ -f "$DATA/train_pairs/manifest.jsonl" ] || \
  stemprover pairs --out "$DATA/train_pairs" --synthetic 48 --seconds 8 --seed 100 -q
# Base, in two phases (the run resumes from its checkpoint between them): 1100 steps with the
# older loss (SI-SDR 0.1, no identity pairs; the model it made was the default until
# 2026-11-24 and learned a -4 dB gain), then 400 with configs/base.yaml's SNR loss and identity
# pairs, which fixed the level and the damage to nearly clean stems (README).
stemprover train --pairs "$DATA/train_pairs" --out "$RUN" --config base \
  --set train.steps=1100 --set loss.si_sdr=0.1 --set loss.snr=0 --set train.identity_pairs=0 "$@"
stemprover train --pairs "$DATA/train_pairs" --out "$RUN" --config base "$@"
# The adapters' base: the same model widened to read the mixture (its input channels and the
# mixture's gain head start at zero, so without adapters it computes exactly what the base
# does, with or without --mix); LoRA on the control branch's conv_in and the denoiser's
# conv_out can open them.
stemprover train --pairs "$DATA/train_pairs" --out "$RUN-wide" --config base --init "$RUN/model" \
  --set model.denoiser.mixture=true --set model.denoiser.mixture_gain=true --set train.steps=0
# One LoRA adapter per artifact type, mild to severe (progressive targeting), with the mixture
# for 80% of the crops (train.mixture_dropout), so that they also work without --mix.
# Adapters train without identity pairs (adapter.identity_pairs, 0 by default).
# LoRA on the resnet convs and conv_in of both branches and on the denoiser's conv_out (the
# adapter defaults).
# Data: "single" = pairs with only that artifact (32 songs, severity 0.3-1); "mixed" = those
# plus every pair of the mixed training set and the detector's set (both producers, 1-6
# artifacts per stem) that carries the artifact. Phasiness and spectral holes mostly come
# with other artifacts (and from the mask producer); adapters trained on them alone did not
# help those pairs (held-out: phasiness -0.084, holes +0.006 vs base +0.002/+0.004).
DATA="$DATA" bash bench/detector_pairs.sh
ADAPTER_SET="--set train.valid_pairs=8 --set train.validate_every=50 --set train.mixture_dropout=0.2"
# name:steps:lr:data[:stem]. Only adapters that beat the base on their own type on the
# held-out pairs ship (experiments/adapter_eval/results/adapter_eval_*.md; SI-SDR change, adapter vs base): bleed
# +0.572 vs +0.008, musical noise +0.071 vs +0.010, transient smear +0.319 vs +0.003 (single),
# phasiness +0.018 vs +0.002, spectral holes +0.037 vs +0.004 (mixed; 800 steps did worse:
# phasiness +0.051 with SE 0.065 and -0.18 on simulate pairs, holes +0.027). Not shipped:
# hf_loss (single, 500 steps at 0.001: -0.013 vs -0.001, its validation fell from the first
# 50 steps; mixed, 500 steps at 0.0003: -0.001 vs -0.001).
# A stem makes a per-stem adapter (`adapter.stems`, named bleed-drums), which `auto` uses on
# that stem type in place of the all-stem one. Per-stem adapters ship when they win through
# `auto` on calibration pairs (experiments/per_stem_auto/per_stem_auto.py): bleed-drums +0.21 (SE 0.12) over the
# all-stem adapters on 12 drums pairs. Not shipped: bleed on bass (-0.81 vs the all-stem
# adapter on 24 bass pairs), vocals (+0.16, SE 0.09), other (+0.08, SE 0.63); transient smear
# on drums (`transient_smear:400:0.001:single:drums`: +0.67, SE 0.13, on 24 drums smear pairs
# at weight 1, but -0.067, SE 0.054, through `auto` beside bleed-drums); musical noise on
# vocals (validation 14.98 -> 11.60 dB, measured without the mixture: before 987fcf4 the
# training log's validation never passed it to an adapter).
# Lost highs on drums (hf_loss-drums) copies the highs back from the mixture: on 24 new drums
# lost-highs pairs +10.22 dB at weight 1; through `auto` on the drums calibration pairs +0.08
# (SE ~0.2) over bleed-drums alone. Trained on the single-type pairs plus mask-producer pairs
# ("masked": without those, and without identity pairs, it gained +10.44 on the pure pairs but
# lost -1.75 through `auto`, copying highs the stem already had); LoRA alpha 16 (scale 4)
# opens the mixture's gain head faster (+10.44 vs +9.71 at alpha 4). An all-stem or `other`
# lost-highs adapter loses: those stems' highs are 30+ dB below the mixture's (README).
# name:steps:lr:data[:stem[:key=value,...]] (extra config settings for that adapter).
ADAPTERS="transient_smear:400:0.001:single musical_noise:500:0.001:single bleed:500:0.001:single phasiness:400:0.0003:mixed
spectral_holes:500:0.001:mixed bleed:500:0.001:single:drums
hf_loss:400:0.001:masked:drums:adapter.alpha=16,adapter.identity_pairs=0.25"
for spec in $ADAPTERS; do
  IFS=: read -r name steps lr data stem extra <<< "$spec"
  adapter=$name${stem:+-$stem}
  [ -f "$DATA/${name}_pairs/manifest.jsonl" ] || \
    stemprover pairs --out "$DATA/${name}_pairs" --synthetic 32 --seconds 8 --seed 500 \
      --producer simulate --artifacts "$name" --severity 0.3,1 -q
  pairs=(--pairs "$DATA/${name}_pairs")
  [ "$data" = mixed ] && pairs=(--pairs "$DATA/train_pairs" --pairs "$DATA/detector_pairs" "${pairs[@]}")
  if [ "$data" = masked ]; then
    [ -f "$DATA/${name}_mask_pairs/manifest.jsonl" ] || \
      stemprover pairs --out "$DATA/${name}_mask_pairs" --synthetic 32 --seconds 8 --seed 600 \
        --producer mask --artifacts "$name" --severity 0.3,1 -q
    pairs+=(--pairs "$DATA/${name}_mask_pairs")
  fi
  only=(); [ -n "$stem" ] && only=(--set "adapter.stems=[$stem]")
  IFS=, read -ra sets <<< "$extra"
  for kv in "${sets[@]}"; do only+=(--set "$kv"); done
  # shellcheck disable=SC2086
  stemprover train "${pairs[@]}" --out "$RUN-wide-adapter-$adapter" --adapter "$name" \
    --model "$RUN-wide/model" --set train.steps="$steps" --set train.lr="$lr" $ADAPTER_SET \
    "${only[@]}"
done
rm -rf src/stemprover/weights/latent
mkdir -p src/stemprover/weights/latent/adapters
cp "$RUN-wide"/model/* src/stemprover/weights/latent/
for spec in $ADAPTERS; do
  IFS=: read -r name _ _ _ stem _ <<< "$spec"
  adapter=$name${stem:+-$stem}
  cp -r "$RUN-wide-adapter-$adapter/adapter/$adapter" src/stemprover/weights/latent/adapters/
done
echo "latent model and adapters -> src/stemprover/weights/latent"
