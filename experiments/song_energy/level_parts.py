"""The level step in parts (session 27): each stem of the first N valid songs of a pairs folder
through the refiner and the song Wiener filter, then the level step's power complement and
quiet-bin floor apart and together, at several thresholds and floors (whole songs, one STFT;
the 40 dB rows are the level step of session 26). SI-SDR change, bleedless, fullness, median
level.

    python experiments/song_energy/level_parts.py data/calib_sm --songs 20   # ~4 min, 2 cores
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "song_trust"))
from bleed_stages import cli, load_model, valid_songs

from stemprover.evaluation.metrics import bleed_and_fullness, level_db, si_sdr
from stemprover.models.refiner import keep_quiet, song_level, song_wiener

NONE = float("inf")  # song_level's quiet bins from infinitely far down: none kept


def candidates(s, x, y0, gate) -> dict[str, torch.Tensor]:
    yw = song_wiener(y0, gate, x)
    level = lambda db, floor=None: song_level(yw, gate, x, s, db, floor)  # noqa: E731
    yg = level(NONE)  # the power complement alone
    return {
        "input": s,
        "wiener": yw,
        "gamma": yg,
        "quiet": keep_quiet(yw, s, 40.0),
        "level": level(40.0),
        "quiet50": level(50.0),
        "quiet45": level(45.0),
        "quiet30": level(30.0),
        "gamma_half": keep_quiet(yw + 0.5 * (yg - yw), s, 40.0),
        "floor_y0": level(40.0, y0.abs()),
        "floor_min": level(40.0, torch.minimum(y0.abs(), s.abs())),
    }


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    acc = defaultdict(list)
    for song in valid_songs(model, a.pairs, a.songs):
        with torch.no_grad():
            y0, gate, _ = model.refine_stems(song.s, song.x)
            cands = candidates(song.s, song.x, y0, gate)
        for j, ref in enumerate(song.refs):
            for k, c in cands.items():
                e = song.wave(c[j])
                acc[k].append(
                    (
                        si_sdr(ref, e),
                        *bleed_and_fullness(ref, e, model.sample_rate),
                        level_db(ref, e),
                    )
                )
    base = np.array(acc["input"])
    print(a.pairs, len(base), "si_sdr change / bleedless / fullness / level")
    for k, v in acc.items():
        v = np.array(v)
        print(
            f"{k:10s} {np.mean(v[:, 0] - base[:, 0]):+.2f}  {np.nanmean(v[:, 1]):.2f}  "
            f"{np.nanmean(v[:, 2]):.2f}  {np.nanmedian(v[:, 3]):+.2f}"
        )


if __name__ == "__main__":
    main()
