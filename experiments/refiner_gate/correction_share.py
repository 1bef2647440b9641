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

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import gain_table, input_bin, song_pairs
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
        table, n = defaultdict(lambda: defaultdict(list)), 0
        for rec, clean, art, mix, sibs in song_pairs(folder, "test"):
            art_t = torch.from_numpy(art).float()
            s, x = stft(art_t, cfg), stft(torch.from_numpy(mix).float(), cfg)
            siblings = stft(torch.from_numpy(np.stack(sibs)).float(), cfg)
            before = si_sdr(clean, art)
            for name, m in systems.items():
                y = istft(m.enhance(s, x, siblings=siblings), cfg, art.shape[-1])
                gain = si_sdr(clean, y.double().numpy()) - before
                for key in ("all", input_bin(before), rec["stem"]):
                    table[key][name].append(gain)
            n += 1
        print(f"\n### {folder} ({n} pairs)\n")
        print("Mean SI-SDR change in dB (share of pairs losing more than 0.5 dB)\n")
        print(gain_table(table, list(systems)))


if __name__ == "__main__":
    main()
