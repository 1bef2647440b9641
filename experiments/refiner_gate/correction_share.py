"""Where the refiner's gain comes from: its gate (how far to move from the stem) or its
correction of the classical estimate (the mask ``M = P/X + c``). Whole files, song mode
(mixture and the song's other stems), SI-SDR change over the input per pair.

    python experiments/refiner_gate/correction_share.py data/heldout_pairs data/heldout_umx \
        > experiments/refiner_gate/results/correction_share.md

Systems: ``model`` (as shipped); ``gate only`` (the model's gate, correction ``c`` zeroed:
Y = (1 − g)·S + g·P, P bounded by |X|); ``estimate`` (P alone, the gate forced open).
"""

from __future__ import annotations

import argparse
import copy
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.stft import istft, stft
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import input_bin
from stemprover.models.base import load_model


def variants(model):
    """The shipped model, its copy without the correction, and its copy with the gate open."""
    no_c, open_gate = copy.deepcopy(model), copy.deepcopy(model)
    with torch.no_grad():
        for head in no_c.net.heads:  # output rows are (bin, [gate, re c, im c])
            keep = torch.arange(head[-1].out_features) % 3 == 0
            head[-1].weight[~keep] = 0
            head[-1].bias[~keep] = 0
        for head in open_gate.net.heads:
            head[-1].weight.zero_()
            head[-1].bias.view(-1, 3)[:, 0] = 20.0  # tanh(20) = 1: the gate fully open
    return {"model": model, "gate only": no_c, "estimate": open_gate}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    systems = variants(load_model(args.model, adapters="none"))
    cfg = systems["model"].config.stft
    for folder in args.pairs:
        records = [r for r in read_manifest(folder) if r["split"] == "test"]
        by_song = defaultdict(list)
        for r in records:
            by_song[r["song"]].append(r)
        table = defaultdict(lambda: defaultdict(list))
        for rec in records:

            def read(rel, folder=folder):
                return torch.from_numpy(io.read(folder / rel, "float32")[0])

            clean, art, mix = read(rec["clean"]), read(rec["artifacted"]), read(rec["mixture"])
            sibs = [read(o["artifacted"]) for o in by_song[rec["song"]] if o["id"] != rec["id"]]
            s, x = stft(art, cfg), stft(mix, cfg)
            siblings = stft(torch.stack(sibs), cfg)
            ref = clean.double().numpy()
            before = si_sdr(ref, art.double().numpy())
            for name, m in systems.items():
                y = istft(m.enhance(s, x, siblings=siblings), cfg, art.shape[-1])
                gain = si_sdr(ref, y.double().numpy()) - before
                for key in ("all", input_bin(before), rec["stem"]):
                    table[key][name].append(gain)
        names = list(systems)
        print(f"\n### {folder} ({len(records)} pairs)\n")
        print("Mean SI-SDR change in dB (share of pairs losing more than 0.5 dB)\n")
        print("| group | n | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 2) + "|")
        order = [
            "all",
            "<5 dB",
            "5-10 dB",
            "10-15 dB",
            ">=15 dB",
            "vocals",
            "drums",
            "bass",
            "other",
        ]
        for key in [k for k in order if k in table]:
            row = table[key]
            cells = [
                f"{np.mean(row[n]):+.2f} ({np.mean(np.array(row[n]) < -0.5):.0%})" for n in names
            ]
            print(f"| {key} | {len(row[names[0]])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
