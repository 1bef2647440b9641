"""The refiner's learned confidence, measured: the mean |gate| (0: the stem is left as it is;
1: replaced by the mask on the mixture) per input-quality bin of a pairs folder, in each mode.

    python experiments/refiner_gate/gate_by_bin.py data/heldout_pairs --model default \
        > experiments/refiner_gate/results/heldout.md

The gate is averaged over bins weighted by the stem's power, over the pair's whole length
(one pass, no segmenting), both channels (the classical estimate reads them together).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.stft import stft
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import input_bin
from stemprover.models.base import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    model = load_model(args.model, adapters="none")
    cfg = model.config
    records = [r for r in read_manifest(args.pairs) if r["split"] == "test"]
    by_song = defaultdict(list)
    for r in records:
        by_song[r["song"]].append(r)
    table = defaultdict(lambda: defaultdict(list))
    for rec in records:

        def read(rel):
            return torch.from_numpy(io.read(args.pairs / rel, "float32")[0])  # (C, T)

        clean, art, mix = read(rec["clean"]), read(rec["artifacted"]), read(rec["mixture"])
        sibs = [read(o["artifacted"]) for o in by_song[rec["song"]] if o["id"] != rec["id"]]
        s, x = stft(art, cfg.stft)[None], stft(mix, cfg.stft)[None]
        siblings = stft(torch.stack(sibs), cfg.stft)[None]
        w = s.abs() ** 2
        b = input_bin(si_sdr(clean.double().numpy(), art.double().numpy()))
        with torch.no_grad():
            for mode, args_ in (
                ("stem", (None, None)),
                ("mixture", (x, None)),
                ("song", (x, siblings)),
            ):
                _, gate = model.run(s, *args_, return_gate=True)
                table[b][mode].append(float((gate.abs() * w).sum() / w.sum()))
    print(f"Mean |gate| weighted by stem power ({args.pairs}, model {args.model})\n")
    print("| input SI-SDR | pairs | stem alone | with mixture | song mode |")
    print("|---|---|---|---|---|")
    order = ["<5 dB", "5-10 dB", "10-15 dB", ">=15 dB"]
    for b in sorted(table, key=lambda k: order.index(k) if k in order else 9):
        row = table[b]
        print(
            f"| {b} | {len(row['stem'])} | "
            + " | ".join(f"{np.mean(row[m]):.3f}" for m in ("stem", "mixture", "song"))
            + " |"
        )


if __name__ == "__main__":
    main()
