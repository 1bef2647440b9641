"""The headroom of knowing which bins a stem owns (session 37): the default's output with
the mixture put in the bins where the stem's **true** share is at least ``--owned`` (an
oracle), against the default, on a pairs folder's valid songs (whole songs, one STFT).

    PYTHONPATH=experiments/song_trust:experiments/level_loss \
      python experiments/level_loss/owned_oracle.py \
      data/calib_sm --songs 12

SI-SDR change over the input, level, bleedless, fullness: means over stems.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from bleed_stages import load_model, valid_songs
from missing_level import true_share
from post_level import scores

METRICS = ("si_sdr", "level", "bleedless", "fullness")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--model", default="src/stemprover/weights/default")
    ap.add_argument("--songs", type=int, default=0)
    ap.add_argument("--owned", type=float, default=0.9)
    a = ap.parse_args()
    model = load_model(a.model)
    rows = {"input": [], "default": [], "owned → mixture (oracle)": []}
    for song in valid_songs(model, a.pairs, a.songs):
        with torch.no_grad():
            t = model.refine_song(song.s, song.x, "trust", [r["stem"] for r in song.recs])
        oracle = torch.where(true_share(song)[1] >= a.owned, song.x.expand_as(t), t)
        for j, ref in enumerate(song.refs):
            for key, z in (("input", song.s), ("default", t), ("owned → mixture (oracle)", oracle)):
                got = scores(ref, song.wave(z[j]), 44100)
                rows[key].append([got[k] for k in METRICS])
    base = np.array(rows["input"])
    print(f"{len(base)} stems, bins owned: true share ≥ {a.owned}")
    print("| system | SI-SDR Δ | level | bleedless | fullness |")
    print("|---|---|---|---|---|")
    for key, r in rows.items():
        r = np.array(r)
        m = np.nanmean(r, 0)
        print(
            f"| {key} | {np.nanmean(r[:, 0] - base[:, 0]):+.2f} | {m[1]:+.2f} | {m[2]:.2f} | {m[3]:.2f} |"
        )


if __name__ == "__main__":
    main()
