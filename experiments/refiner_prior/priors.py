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

import torch

from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import istft, stft
from stemprover.config import RefinerConfig
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import gain_table, input_bin, song_pairs

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
        table, n = defaultdict(lambda: defaultdict(list)), 0
        for rec, clean, art, mix, sibs in song_pairs(folder, args.split):
            before = si_sdr(clean, art)
            b = input_bin(before)
            as_t = [torch.from_numpy(o) for o in sibs]
            for name, y in candidates(torch.from_numpy(art), torch.from_numpy(mix), as_t).items():
                gain = si_sdr(clean, y.numpy()) - before
                for key in ("all", b, rec["stem"]):
                    table[key][name].append(gain)
            n += 1
        print(f"\n### {folder} ({n} pairs, split {args.split})\n")
        print("Mean SI-SDR change in dB (share of pairs losing more than 0.5 dB)\n")
        print(gain_table(table, list(next(iter(table.values())))))


if __name__ == "__main__":
    main()
