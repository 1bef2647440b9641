"""The trust layer with and without the canceller's candidate, in the exact blend proxy, on the
same rows: a run of ``stemprover trust train --set trust.cancel=true`` caches the statistics of
``(S, P, Y, C)``; those of ``(S, P, Y)`` are their first three candidates and the features
without the canceller's columns, so both layers train on the same songs, segments and quality
estimates (``train_blend``, the library's settings) and are scored on the same validation stems.

    python experiments/bleed_canceller/trust_control.py runs/trust_cancel [--harm-below best]
    python experiments/bleed_canceller/trust_control.py runs/trust_bl --train-extra bleed_light
    python experiments/bleed_canceller/trust_control.py runs/trust_cancel --write-plain runs/x

Prints validation (and calibration, when ``calib_sm``'s statistics are in the cache) SI-SDR
over the input by input-quality bin and stems losing > 0.5 dB, for both trained layers and for
the oracle of each candidate set: per segment, stem and band the least-squares blend against
the reference (what any per-band blend could reach). ``--write-plain`` instead writes the
statistics without ``C`` as another run's cache (session 30's shipped layer was fitted so).
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from stemprover.evaluation.run import INPUT_BINS, input_bin
from stemprover.models.trust import CANCEL_ENERGIES, ENERGIES, SongTrust, TrustConfig
from stemprover.training.trust import BlendStats, TrustTrainConfig, train_blend

TRAIN = ["trust_sm-", "trust_tcn-", "trust_bs-"]
VALID = ["v3_mixed-", "bs_train-"]
CALIB = ["calib_sm-"]  # scored too when its statistics are in the cache (collect_blend)


def load(cache: Path, names: list[str], split: str) -> BlendStats:
    return BlendStats([next(iter(sorted(cache.glob(f"blend-{n}*-{split}.npz")))) for n in names])


def plain_columns(dim: int) -> list[int]:
    """The feature columns of a layer without ``C`` among ``dim`` columns of one with it: of
    each of the three blocks (own, siblings' mean, siblings' max) the first
    ``len(ENERGIES)``, then the rest (stem type, band, quality) as they are."""
    own, width = len(ENERGIES), len(ENERGIES) + len(CANCEL_ENERGIES)
    return [i for i in range(dim) if i >= 3 * width or i % width < own]


def drop_c(feats, gram, cross):
    """Blend statistics' features, Gram matrices and cross terms (arrays or tensors) without
    C's columns, rows and feature columns."""
    return feats[..., plain_columns(feats.shape[-1])], gram[..., :3, :3], cross[..., :3]


def without_canceller(st: BlendStats) -> BlendStats:
    """The statistics of ``(S, P, Y)`` alone: the 4-candidate ones with C dropped."""
    out = copy.copy(st)
    out.feats, out.gram, out.cross = drop_c(st.feats, st.gram, st.cross)
    return out


def report(name: str, st: BlendStats, w: torch.Tensor) -> None:
    gain = (st.score(w) - st.score(st.one_hot(0))).numpy()
    y = (st.score(st.one_hot(2)) - st.score(st.one_hot(0))).numpy()
    line = [
        f"{name:22s} all {gain.mean():+.2f} (Y {y.mean():+.2f}), losing {np.mean(gain < -0.5):.0%}"
    ]
    bins = np.array([input_bin(v) for v in st.input_db])
    for _, b in INPUT_BINS:
        m = bins == b
        line.append(f"{b} {gain[m].mean():+.2f} ({np.mean(gain[m] < -0.5):.0%}, n={m.sum()})")
    print(" | ".join(line))


def write_plain(cache: Path, out: Path) -> None:
    """Every blend file of ``cache`` without C (the rows ``collect_blend`` makes for a layer
    without the canceller: the same energies, the sibling means and maxima per column),
    under the same names in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(cache.glob("blend-*.npz")):
        d = dict(np.load(path))
        d["feats"], d["gram"], d["cross"] = drop_c(d["feats"], d["gram"], d["cross"])
        np.savez(out / path.name, **d)
        print(f"{out / path.name}")


def oracle(st: BlendStats) -> torch.Tensor:
    """Per row and band the least-squares weights ``G⁻¹b`` (``G`` regularised by 1e-9 of its
    mean diagonal), as blend weights ``(rows, B, K)``."""
    diag = st.gram.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
    eye = torch.eye(st.gram.shape[-1], dtype=st.gram.dtype)
    return torch.linalg.solve(st.gram + 1e-9 * diag * eye, st.cross[..., None])[..., 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a trust train run made with trust.cancel=true")
    ap.add_argument("--harm-below", default=None, help="train.harm_below for both (y, best)")
    ap.add_argument(
        "--write-plain",
        type=Path,
        help="write the statistics without C as a run folder's cache here (trust train with "
        "--out there then finds them and skips collecting)",
    )
    ap.add_argument(
        "--train-extra",
        action="append",
        default=[],
        help="another pairs folder whose train-split statistics are in the cache (its name, "
        "e.g. bleed_light): both layers train on it too",
    )
    a = ap.parse_args()
    meta = json.loads((a.run / "trust.json").read_text())
    tcfg, cfg = TrustConfig(**meta["config"]), TrustTrainConfig(**meta["train"])
    if a.harm_below:
        cfg = replace(cfg, harm_below=a.harm_below)
    assert tcfg.cancel, "a run made with trust.cancel=true"
    if a.write_plain:
        write_plain(a.run / "cache", a.write_plain / "cache")
        return
    names = TRAIN + [f"{n}-" for n in a.train_extra]
    train, valid = load(a.run / "cache", names, "train"), load(a.run / "cache", VALID, "valid")
    has_calib = list(a.run.glob("cache/blend-calib_sm-*"))
    calib = load(a.run / "cache", CALIB, "valid") if has_calib else None
    quiet = lambda m: None  # noqa: E731
    drop = lambda st: None if st is None else without_canceller(st)  # noqa: E731
    for name, c, tr, va, ca in (
        ("S,P,Y", replace(tcfg, cancel=False), drop(train), drop(valid), drop(calib)),
        ("S,P,Y,C", tcfg, train, valid, calib),
    ):
        layer = SongTrust(c)
        for which in ("blend", "good"):
            b = train_blend(layer, tr, va, cfg, quiet, which)
            print(f"{name} {which}: step {b['step']}, validation {b['gain']:+.3f}")
        for where, st in (("valid", va), ("calib", ca)):
            if st is not None:
                with torch.no_grad():
                    report(f"{where} {name}", st, st.weights(layer))
                report(f"{where} {name} oracle", st, oracle(st))


if __name__ == "__main__":
    main()
