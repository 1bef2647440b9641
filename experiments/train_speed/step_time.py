"""Where a refiner training step's time goes (session 34): the recipe's batch (4 stereo 2 s
crops of the recipe's pairs, song mode with the siblings, the shipped network), timed part by
part over ``--steps`` steps after two warm-up steps.

    OMP_WAIT_POLICY=PASSIVE python experiments/train_speed/step_time.py [--bf16] [--threads 2]

Run it with ``PYTHONPATH=<other checkout>/src`` to time another commit's code on the same
crops (session 34: 1.90 s at 53328fb, 1.55 s at 8990990, same arithmetic).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import istft, stft
from stemprover.config import RefinerTrainConfig
from stemprover.models.refiner import RefinerModel, classical_estimate
from stemprover.training import refiner as tr
from stemprover.training.data import PairCrops

ap = argparse.ArgumentParser()
ap.add_argument("--pairs", nargs="+", default=["data/v2_fluid", "data/v3_mixed"])
ap.add_argument("--model", default="src/stemprover/weights/default")
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--bf16", action="store_true", help="the network under bfloat16 autocast")
args = ap.parse_args()

torch.set_num_threads(args.threads)
model = RefinerModel.load(args.model)
model.train()
data = PairCrops([Path(p) for p in args.pairs], "train", 44100, 2.0, mixture=True, siblings=True)
loss = tr._Loss(model, data, RefinerTrainConfig(warmup=0.0))
opt = torch.optim.AdamW(model.parameters(), 1e-4)
rng = np.random.default_rng(0)
cfg = model.config.stft
spent: dict[str, float] = {}


def timed(name: str, t0: float) -> None:
    spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0


for i in range(args.steps + 2):
    if i == 2:
        spent.clear()  # the first two steps warm up
    t0 = time.perf_counter()
    clean, art, mix, sibs = data.song_batch(4, rng, 1.0, 0.15, channels=2)
    timed("data", t0)
    t0 = time.perf_counter()
    s, x, sb = stft(art, cfg), stft(mix, cfg), stft(sibs, cfg)
    timed("stft", t0)
    t0 = time.perf_counter()
    prior = classical_estimate(s, x, sb, "mwf")
    timed("prior", t0)
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        y, _ = model.run(s, x, sb, return_gate=True, prior=prior)
    y = y.flatten(0, 1)
    out = istft(y, cfg, art.shape[-1])
    timed("forward", t0)
    t0 = time.perf_counter()
    parts = loss._parts(out, y, clean.flatten(0, 1), art.flatten(0, 1), True)
    total = sum(parts.values())
    timed("loss", t0)
    t0 = time.perf_counter()
    opt.zero_grad()
    total.backward()
    timed("backward", t0)
    t0 = time.perf_counter()
    opt.step()
    timed("optimizer", t0)

per = {k: round(v / args.steps, 3) for k, v in spent.items()}
per["step"] = round(sum(spent.values()) / args.steps, 3)
print(json.dumps({"bf16": args.bf16, "threads": args.threads, **per}))
