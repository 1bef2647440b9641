"""Can a reference-free per-stem feature tell when the classical prior beats the shipped
output? Features per stem (no network): its agreement with its prior (``10·log10(‖S‖² /
‖S − P‖²)``), its siblings' mean agreement, the difference, its share of the mixture. A
threshold rule "use the prior where feature < θ" is fitted on the first set's
``headroom.jsonl`` and scored on the second's.

    python experiments/song_energy/prior_choice.py \
        data/calib_sm results/calib_headroom.jsonl \
        data/v3_mixed,data/bs_train results/valid_headroom.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import StftConfig, stft
from stemprover.evaluation.run import song_audio

STFT = StftConfig(n_fft=2048, hop=512, compress=1.0)
FEATURES = ("agreement", "siblings' agreement", "agreement - siblings'", "share")


def _energy(z: torch.Tensor) -> float:
    return float(z.abs().pow(2).sum())


def features(folders: list[Path], split: str = "valid") -> dict[str, list[float]]:
    out = {}
    for folder in folders:
        for recs, mix, _rate, arts, _refs in song_audio(folder, split):
            s = stft(torch.from_numpy(np.stack(arts)).float(), STFT)
            x = stft(torch.from_numpy(mix).float(), STFT)
            p = multichannel_wiener(s.abs(), x, target=None).to(s.dtype)
            agree = [
                10 * np.log10(_energy(s[j]) / (_energy(s[j] - p[j]) + 1e-9)) for j in range(len(s))
            ]
            for j, rec in enumerate(recs):
                sib = float(np.mean([a for k, a in enumerate(agree) if k != j]))
                share = 10 * np.log10(_energy(s[j]) / _energy(x))
                out[rec["id"]] = [agree[j], sib, agree[j] - sib, share]
    return out


def table(folders: str, lines: Path) -> np.ndarray:
    """Rows: the features, then the prior's and the shipped output's SI-SDR change."""
    feats = features([Path(f) for f in folders.split(",")])
    rows = []
    for line in lines.read_text().splitlines():
        r = json.loads(line)
        c = r["si_sdr_change"]
        rows.append([*feats[r["id"]], c["classical"], c["shipped"]])
    return np.array(rows)


def score(a: np.ndarray, k: int, theta: float, sign: int) -> tuple[float, float]:
    pick = sign * a[:, k] < sign * theta
    return float(np.where(pick, a[:, -2], a[:, -1]).mean()), float(pick.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fit_pairs")
    ap.add_argument("fit_lines", type=Path)
    ap.add_argument("test_pairs")
    ap.add_argument("test_lines", type=Path)
    args = ap.parse_args()
    fit, test = table(args.fit_pairs, args.fit_lines), table(args.test_pairs, args.test_lines)
    for name, a in (("fit", fit), ("test", test)):
        gain = a[:, -2] - a[:, -1]
        corr = ", ".join(
            f"{f} {np.corrcoef(a[:, k], gain)[0, 1]:+.2f}" for k, f in enumerate(FEATURES)
        )
        print(f"{name}: correlation with (prior − shipped): {corr}")
    best = max(
        (score(fit, k, th, sign)[0], k, th, sign)
        for k, sign in itertools.product(range(len(FEATURES)), (1, -1))
        for th in np.unique(fit[:, k])
    )
    _, k, th, sign = best
    rule = f"prior where {FEATURES[k]} {'<' if sign > 0 else '>'} {th:.2f}"
    for name, a in (("fit", fit), ("test", test)):
        mean, share = score(a, k, th, sign)
        print(
            f"{name}: {rule}: {mean:+.3f} ({share:.0%} of stems) vs shipped {a[:, -1].mean():+.3f}"
        )


if __name__ == "__main__":
    main()
