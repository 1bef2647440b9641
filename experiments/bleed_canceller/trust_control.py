"""The trust layer with and without the canceller's candidate, in the exact blend proxy, on the
same rows: a run of ``stemprover trust train --set trust.cancel=true`` caches the statistics of
``(S, P, Y, C)``; those of ``(S, P, Y)`` are their first three candidates and the features
without the canceller's columns, so both layers train on the same songs, segments and quality
estimates (``train_blend``, the library's settings) and are scored on the same validation stems.

    python experiments/bleed_canceller/trust_control.py runs/trust_cancel

Prints validation SI-SDR over the input by input-quality bin and stems losing > 0.5 dB, for
both trained layers and for the oracle of each candidate set: per segment, stem and band the
least-squares blend against the reference (what any per-band blend could reach).
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from stemprover.models.trust import CANCEL_ENERGIES, ENERGIES, SongTrust, TrustConfig
from stemprover.training.trust import BlendStats, TrustTrainConfig, train_blend

BINS = [("<5", -99, 5), ("5-10", 5, 10), ("10-15", 10, 15), (">=15", 15, 999)]
TRAIN = ["trust_sm-", "trust_tcn-", "trust_bs-"]
VALID = ["v3_mixed-", "bs_train-"]


def load(cache: Path, names: list[str], split: str) -> BlendStats:
    return BlendStats([next(iter(sorted(cache.glob(f"blend-{n}*-{split}.npz")))) for n in names])


def without_canceller(st: BlendStats) -> BlendStats:
    """The statistics of ``(S, P, Y)`` alone: the 4-candidate ones with C's rows, columns and
    feature columns dropped."""
    own, extra = len(ENERGIES), len(CANCEL_ENERGIES)
    width = own + extra
    keep = [i for i in range(st.feats.shape[-1]) if i >= 3 * width or i % width < own]
    out = copy.copy(st)
    out.feats = st.feats[..., keep]
    out.gram, out.cross = st.gram[..., :3, :3], st.cross[..., :3]
    return out


def report(name: str, st: BlendStats, w: torch.Tensor) -> None:
    gain = (st.score(w) - st.score(st.one_hot(0))).numpy()
    y = (st.score(st.one_hot(2)) - st.score(st.one_hot(0))).numpy()
    line = [
        f"{name:8s} all {gain.mean():+.2f} (Y {y.mean():+.2f}), losing {np.mean(gain < -0.5):.0%}"
    ]
    for b, lo, hi in BINS:
        m = (st.input_db >= lo) & (st.input_db < hi)
        line.append(f"{b} {gain[m].mean():+.2f} ({np.mean(gain[m] < -0.5):.0%}, n={m.sum()})")
    print(" | ".join(line))


def oracle(st: BlendStats) -> torch.Tensor:
    """Per row and band the least-squares weights ``G⁻¹b`` (``G`` regularised by 1e-9 of its
    mean diagonal), as blend weights ``(rows, B, K)``."""
    diag = st.gram.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
    eye = torch.eye(st.gram.shape[-1], dtype=st.gram.dtype)
    return torch.linalg.solve(st.gram + 1e-9 * diag * eye, st.cross[..., None])[..., 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a trust train run made with trust.cancel=true")
    a = ap.parse_args()
    meta = json.loads((a.run / "trust.json").read_text())
    tcfg, cfg = TrustConfig(**meta["config"]), TrustTrainConfig(**meta["train"])
    assert tcfg.cancel, "a run made with trust.cancel=true"
    train, valid = load(a.run / "cache", TRAIN, "train"), load(a.run / "cache", VALID, "valid")
    quiet = lambda m: None  # noqa: E731
    for name, c, tr, va in (
        ("S,P,Y", replace(tcfg, cancel=False), without_canceller(train), without_canceller(valid)),
        ("S,P,Y,C", tcfg, train, valid),
    ):
        layer = SongTrust(c)
        for which in ("blend", "good"):
            b = train_blend(layer, tr, va, cfg, quiet, which)
            print(f"{name} {which}: step {b['step']}, validation {b['gain']:+.3f}")
        with torch.no_grad():
            report(name, va, va.weights(layer))
        report(f"{name} oracle", va, oracle(va))


if __name__ == "__main__":
    main()
