"""Can the refiner know how good a stem is? Per stem of whole songs: the shipped song mode's
output ``Y``, the input ``S``, and what could predict how far to go from ``S`` towards ``Y``
without the reference. Writes one JSON line per stem: features, the SI-SDR change of
``S + α(Y − S)`` on a grid of α (0..1.5), and ``wiener-mc``'s change.

    python experiments/stem_confidence/collect.py data/v3_mixed data/bs_train --split valid \
        --out /tmp/conf_valid.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import stemprover.models.refiner as refiner_mod
from stemprover.analysis.detectors import analyze_heuristic
from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.evaluation.baselines import Inputs, wiener_mc
from stemprover.evaluation.metrics import bleed_and_fullness, level_db, si_sdr
from stemprover.evaluation.run import song_audio

ALPHAS = np.round(np.arange(0, 1.51, 0.05), 2)
SHIPPED_LEVEL = refiner_mod.song_level
GATES: list[torch.Tensor] = []


def _level(y, gate, x, s, *a, **k):
    # energy-weighted positive gate per stem, accumulated over the streamed segments
    w = s.abs().pow(2)
    GATES.append(
        torch.stack([(gate.clamp_min(0) * w).sum((1, 2, 3)), w.sum((1, 2, 3))], -1).double()
    )
    return SHIPPED_LEVEL(y, gate, x, s, *a, **k)


def energy(a: np.ndarray) -> float:
    return float(np.sum(a**2))


def db(a: float, b: float) -> float:
    return float(10 * np.log10((a + 1e-12) / (b + 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--deadzone", type=float, default=None, help="refiner gate dead zone")
    args = ap.parse_args()
    pipe = load_pipeline(EnhanceOptions(args.model, "none"))
    if args.deadzone is not None:
        pipe.model.net.gate_deadzone = args.deadzone
    refiner_mod.song_level = _level
    with args.out.open("w") as fh:
        for folder in args.pairs:
            for recs, mix, rate, arts, refs in song_audio(folder, args.split):
                GATES.clear()
                outs = pipe.enhance_song(arts, rate, mix)
                g = torch.stack(GATES).sum(0) if GATES else None
                left = mix - sum(arts)
                for j, rec in enumerate(recs):
                    s, y, ref = arts[j], outs[j], refs[j]
                    sibs = tuple(a for k, a in enumerate(arts) if k != j)
                    w = wiener_mc(Inputs(s, mix, ref, rate, sibs))
                    base = si_sdr(ref, s)
                    det = analyze_heuristic(s, rate, mix)
                    row = {
                        "id": rec["id"],
                        "song": rec["song"],
                        "stem": rec["stem"],
                        "producer": rec["producer"],
                        "artifacts": rec.get("artifacts", []),
                        "input": base,
                        "wmc": si_sdr(ref, w) - base,
                        "metrics": {
                            name: [level_db(ref, est), *bleed_and_fullness(ref, est, rate)]
                            for name, est in (("input", s), ("output", y))
                        },
                        "gains": [si_sdr(ref, s + a * (y - s)) - base for a in ALPHAS],
                        "f": {
                            "change": db(energy(y - s), energy(s)),
                            "wmc_change": db(energy(w - s), energy(s)),
                            "share": db(energy(s), energy(mix)),
                            "left": db(energy(left), energy(mix)),
                            "left_vs_stem": db(energy(left), energy(s)),
                            "gate": float(g[j, 0] / g[j, 1]) if g is not None else 0.0,
                            "n_stems": len(recs),
                            **{f"det_{k}": v["score"] for k, v in det.items()},
                        },
                    }
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
                print(recs[0]["song"], flush=True)


if __name__ == "__main__":
    main()
