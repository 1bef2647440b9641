"""Histogram of the input quality (artifacted vs clean SI-SDR, per pair) of pairs folders: is
the training set's quality range the held-out set's?

    python experiments/refiner_gate/input_histogram.py data/v2_fluid:train \
        data/heldout_pairs:test data/heldout_umx:test > experiments/refiner_gate/results/input_histogram.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr

EDGES = (-np.inf, 0, 5, 10, 15, 20, np.inf)
NAMES = ("<0", "0-5", "5-10", "10-15", "15-20", ">=20")


def values(folder: Path, split: str) -> np.ndarray:
    out = []
    for rec in read_manifest(folder):
        if rec["split"] != split:
            continue
        clean = io.read(folder / rec["clean"], "float64")[0]
        art = io.read(folder / rec["artifacted"], "float64")[0]
        if np.abs(clean).max() > 0:
            out.append(si_sdr(clean, art))
    return np.array(out)


def main(specs: list[str]) -> None:
    print("Share of pairs per input SI-SDR bin (dB)\n")
    print("| pairs | n | mean | " + " | ".join(NAMES) + " |")
    print("|---|---|---|" + "---|" * len(NAMES))
    for spec in specs:
        folder, _, split = spec.partition(":")
        v = values(Path(folder), split or "train")
        counts, _ = np.histogram(v, bins=EDGES)
        shares = " | ".join(f"{c / len(v):.0%}" for c in counts)
        print(f"| {folder} ({split}) | {len(v)} | {v.mean():.1f} | {shares} |")


if __name__ == "__main__":
    main(sys.argv[1:])
