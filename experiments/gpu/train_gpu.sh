#!/usr/bin/env bash
# Train on a lent GPU machine (no registries, no FluidSynth, 64 MiB carried): the songs go as
# clean FLAC stems, the wheels the machine's image lacks go beside them in .gpu/, and the
# pairs are made there with `stemprover pairs --multitrack`, SEEDS artifact draws per song.
# Here, once (.gpu/ must be git-ignored: echo /.gpu/ >> .git/info/exclude):
#   python experiments/gpu/export_songs.py data/train_pairs data/detector_pairs data/bleed_pairs \
#     --out .gpu/songs --seconds 3 --budget-mb 42          # 88 songs, 42 MB
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .gpu/whl \
#     diffusers soundfile cffi pycparser soxr jsonschema referencing \
#     jsonschema-specifications rpds-py importlib_metadata
# There (the device tool, carrying .gpu), runs separated by spaces, each name:options with
# commas for spaces (so no option value may hold a comma):
#   PHASE=base RUNS="base:--set,train.batch_size=32 lpb2:--set,model.denoiser.layers_per_block=2" \
#     bash experiments/gpu/train_gpu.sh
#   PHASE=adapters BASE=default ADAPTERS="spectral_holes hf_loss" \
#     ADAPTER_SETS="--set train.batch_size=32" bash experiments/gpu/train_gpu.sh
# Each run is bounded by MINUTES of wall clock (train.max_minutes); results go to $OUT/<name>/
# (at most 8 files come back from the machine: the model or adapter files and one log each).
# Seen on an H100 (2026-11-24): 8 pairs folders in 59 s (16 cores); three base runs at once
# 0.13-0.20 s per step at batch 32-64 (where the time goes was not measured); single-
# type spectral_holes pairs are slower than the rest (12 processes: not done in 100 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu_out}
SEEDS=${SEEDS:-8}
MINUTES=${MINUTES:-6}
SONGS=${SONGS:-.gpu/songs}
if [ -d .gpu/whl ] && ! python3 -c "import diffusers, soundfile, soxr" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
SP="python3 -m stemprover"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
mkdir -p "$OUT" /tmp/runs
T0=$(date +%s)
pairs() {  # pairs <folder prefix> [pairs options]: SEEDS folders, made in parallel
  local prefix=$1; shift
  for s in $(seq 1 "$SEEDS"); do
    # One thread each: eight processes with a thread per core each never finished in 10 min.
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 timeout "${PAIRS_TIMEOUT:-300}" \
      $SP pairs --multitrack "$SONGS" --seconds 3 --seed "$s" --out "$prefix$s" -q --overwrite "$@" &
  done
  wait
}
folders() {  # the pairs folders that were finished (a timed-out one is never written)
  for s in $(seq 1 "$SEEDS"); do [ -f "$1$s/manifest.jsonl" ] && printf -- "--pairs %s " "$1$s"; done
}
if [ "${PHASE:-base}" = base ]; then
  pairs /tmp/pairs/s
  echo "pairs made in $(( $(date +%s) - T0 )) s: $(folders /tmp/pairs/s)"
  RUNS=${RUNS:-"base:"}
  for spec in $RUNS; do
    name=${spec%%:*} sets=${spec#*:}
    # shellcheck disable=SC2046,SC2086
    OMP_NUM_THREADS=4 $SP train $(folders /tmp/pairs/s) --out "/tmp/runs/$name" --config base -q \
      --set train.max_minutes="$MINUTES" ${sets//,/ } > "$OUT/$name.log" 2>&1 &
  done
  wait
  for spec in $RUNS; do
    name=${spec%%:*}
    [ -d "/tmp/runs/$name/model" ] || { echo "$name: no model"; continue; }
    mkdir -p "$OUT/$name" && cp /tmp/runs/"$name"/model/* /tmp/runs/"$name"/log.jsonl "$OUT/$name/"
  done
else
  BASE=${BASE:?BASE=model folder}
  ADAPTERS=${ADAPTERS:-"transient_smear musical_noise bleed spectral_holes hf_loss phasiness"}
  for name in $ADAPTERS; do
    pairs "/tmp/pairs/$name-" --producer simulate --artifacts "$name" --severity 0.3,1 &
  done
  wait
  echo "pairs made in $(( $(date +%s) - T0 )) s"
  for name in $ADAPTERS; do
    [ -n "$(folders "/tmp/pairs/$name-")" ] || { echo "no $name pairs were finished"; continue; }
    # shellcheck disable=SC2046,SC2086
    OMP_NUM_THREADS=2 $SP train $(folders "/tmp/pairs/$name-") --out "/tmp/runs/ad-$name" --adapter "$name" \
      --model "$BASE" -q --set train.max_minutes="$MINUTES" --set train.lr=0.001 \
      --set train.valid_pairs=16 ${ADAPTER_SETS:-} > "/tmp/runs/ad-$name.log" 2>&1 &
  done
  wait
  # At most 8 files come back from the machine: the adapters' two files each, one log.
  for name in $ADAPTERS; do
    [ -d "/tmp/runs/ad-$name/adapter/$name" ] || { echo "$name: no adapter"; continue; }
    tail -n 2 "/tmp/runs/ad-$name.log"
    mkdir -p "$OUT/$name" && cp -r /tmp/runs/ad-"$name"/adapter/"$name"/* "$OUT/$name/"
    sed "s/^{/{\"adapter\": \"$name\", /" "/tmp/runs/ad-$name/log.jsonl" >> "$OUT/adapters.log.jsonl"
  done
fi
echo "done in $(( $(date +%s) - T0 )) s"
