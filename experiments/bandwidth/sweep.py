"""Band replication without the mixture (stemprover.audio.bandwidth): SI-SDR, fullness and
bleedless change over the input per gain, on stems alone, by group. Chooses the gain on
validation / calibration pairs.

    python experiments/bandwidth/sweep.py data/v3_mixed data/bs_train data/tcn_train \
        --split valid --gains -10 -15 -20 > experiments/bandwidth/results/valid.md
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.bandwidth import extend_bandwidth, find_cutoff
from stemprover.audio.stft import istft, stft
from stemprover.config import RefinerConfig
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import bleed_and_fullness, si_sdr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--gains", type=float, nargs="+", default=[-10.0, -15.0, -20.0])
    args = ap.parse_args()
    cfg = RefinerConfig().stft
    rows = []
    for folder in args.pairs:
        for rec in read_manifest(folder):
            if rec["split"] != args.split:
                continue
            ref, info = io.read(folder / rec["clean"], "float32")
            art, _ = io.read(folder / rec["artifacted"], "float32")
            rate = info.sample_rate
            spec = stft(torch.from_numpy(art), cfg)
            k = find_cutoff(spec, rate)
            base = si_sdr(ref, art)
            b0, f0 = bleed_and_fullness(ref, art, rate)
            groups = ["all", f"stem:{rec['stem']}", f"producer:{rec['producer']}"]
            groups.append("hf_loss" if "hf_loss" in rec["artifacts"] else "no hf_loss")
            row = {"groups": groups, "detected": k is not None}
            for g in args.gains:
                y = art
                if k is not None:
                    y = istft(extend_bandwidth(spec, k, rate, g), cfg, art.shape[-1]).numpy()
                b1, f1 = bleed_and_fullness(ref, y, rate)
                row[g] = (si_sdr(ref, y) - base, f1 - f0, b1 - b0)
            rows.append(row)
    by = defaultdict(list)
    for r in rows:
        for g in r["groups"]:
            by[g].append(r)
    print(f"Pairs: {', '.join(map(str, args.pairs))} ({args.split}), {len(rows)} stems.\n")
    head = " | ".join(f"gain {g:g}: ΔSI-SDR / Δfull / Δbleedless (worst)" for g in args.gains)
    print(f"| group | n | detected | {head} |")
    print("|---|---|---|" + "---|" * len(args.gains))
    for name in sorted(by, key=lambda n: (n != "all", n)):
        rs = by[name]
        cells = []
        for g in args.gains:
            v = np.array([r[g] for r in rs])
            cells.append(
                f"{v[:, 0].mean():+.3f} / {v[:, 1].mean():+.2f} / {v[:, 2].mean():+.2f}"
                f" ({v[:, 0].min():+.2f})"
            )
        det = sum(r["detected"] for r in rs)
        print(f"| {name} | {len(rs)} | {det} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
