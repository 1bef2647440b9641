"""How often `find_cutoff` finds a band limit: on the artifacted stems with and without
lost highs (band-limited separator stems count as with) and on their clean references.

    python experiments/bandwidth/detect.py data/v3_mixed data/bs_train data/calib_sm \
        > experiments/bandwidth/results/detect.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stemprover.audio import io
from stemprover.audio.bandwidth import find_cutoff
from stemprover.audio.stft import stft
from stemprover.config import RefinerConfig
from stemprover.data.manifest import read_manifest

BAND_LIMITED = {"umx"}  # the project's tcn (11 kHz) and band-split (16 kHz) separators


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--split", default="valid")
    args = ap.parse_args()
    cfg = RefinerConfig().stft
    print(f"Split {args.split}: stems where a band limit is found / stems.\n")
    print("| pairs | lost highs | without | clean references |")
    print("|---|---|---|---|")
    for folder in args.pairs:
        counts = {"hf": [0, 0], "other": [0, 0], "clean": [0, 0]}
        for rec in read_manifest(folder):
            if rec["split"] != args.split:
                continue
            hf = "hf_loss" in rec["artifacts"] or rec["producer"] in BAND_LIMITED
            for key, group in (("artifacted", "hf" if hf else "other"), ("clean", "clean")):
                audio, info = io.read(folder / rec[key], "float32")
                found = find_cutoff(stft(torch.from_numpy(audio), cfg), info.sample_rate)
                counts[group][0] += found is not None
                counts[group][1] += 1
        cells = " | ".join(f"{a}/{n}" for a, n in counts.values())
        print(f"| {folder} | {cells} |")


if __name__ == "__main__":
    main()
