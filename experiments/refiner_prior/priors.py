"""Which classical estimate should the refiner's mask start from? SI-SDR change of each
candidate prior over the input stem, per pair of a pairs folder (song mode: the song's other
separated stems are known), by input-quality bin.

    python experiments/refiner_prior/priors.py data/heldout_umx data/heldout_pairs \
        > experiments/refiner_prior/results/priors.md

Candidates (all on the model's 2048/512 STFT):
- ``power-share``: ``|S|²/(|S|² + Σ|S_k|²)`` per channel on the mixture (the shipped prior).
- ``mwf``: the multichannel Wiener filter over the whole file (= the bench's ``wiener-mc``).
- ``mwf-seg4``: the same, its covariances estimated per 4 s block (as the pipeline streams).
- ``mwf-seg2``: per 2 s block (the training crops' length).
- ``mwf-mono``: channel by channel (no spatial covariance).
- ``mwf-rest``: two sources, the stem and the sum of the other stems (one spatial model for
  the rest).
- ``mwf-mix``: two sources, the stem and the mixture minus the stem (no siblings needed).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import istft, stft
from stemprover.config import RefinerConfig
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import input_bin

CFG = RefinerConfig().stft


def blocks(mags, x, frames):
    """MWF with covariances per block of ``frames`` frames."""
    out = []
    for lo in range(0, x.shape[-1], frames):
        out.append(multichannel_wiener(mags[..., lo : lo + frames], x[..., lo : lo + frames]))
    return torch.cat(out, dim=-1)


def candidates(art, mix, sibs):
    s, x = stft(art, CFG), stft(mix, CFG)  # (C, F, N)
    o = [stft(k, CFG) for k in sibs]
    po = sum(k.abs() ** 2 for k in o)
    mags = torch.stack([s.abs(), *(k.abs() for k in o)])  # (J, C, F, N)
    out = {
        "power-share": s.abs() ** 2 / (s.abs() ** 2 + po + 1e-8) * x,
        "mwf": multichannel_wiener(mags, x),
        "mwf-seg4": blocks(mags, x, round(4 * 44100 / CFG.hop)),
        "mwf-seg2": blocks(mags, x, round(2 * 44100 / CFG.hop)),
        "mwf-mono": torch.cat(
            [multichannel_wiener(mags[:, c : c + 1], x[c : c + 1]) for c in range(x.shape[0])]
        ),
        "mwf-rest": multichannel_wiener(torch.stack([s.abs(), sum(o).abs()]), x),
        "mwf-mix": multichannel_wiener(torch.stack([s.abs(), (x - s).abs()]), x),
    }
    return {k: istft(v, CFG, art.shape[-1]) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    for folder in args.pairs:
        records = [r for r in read_manifest(folder) if r["split"] == args.split]
        by_song = defaultdict(list)
        for r in records:
            by_song[r["song"]].append(r)
        table = defaultdict(lambda: defaultdict(list))
        for rec in records:

            def read(rel, folder=folder):
                return torch.from_numpy(io.read(folder / rel, "float64")[0])

            clean, art, mix = read(rec["clean"]), read(rec["artifacted"]), read(rec["mixture"])
            sibs = [read(o["artifacted"]) for o in by_song[rec["song"]] if o["id"] != rec["id"]]
            before = si_sdr(clean.numpy(), art.numpy())
            b = input_bin(before)
            for name, y in candidates(art, mix, sibs).items():
                gain = si_sdr(clean.numpy(), y.numpy()) - before
                for key in ("all", b, rec["stem"]):
                    table[key][name].append(gain)
        names = list(next(iter(table.values())))
        print(f"\n### {folder} ({len(records)} pairs, split {args.split})\n")
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
                f"{np.nanmean(row[n]):+.2f} ({np.mean(np.array(row[n]) < -0.5):.0%})" for n in names
            ]
            print(f"| {key} | {len(row[names[0]])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
