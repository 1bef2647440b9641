"""The level step in parts (session 27): each stem of the first N valid songs of a pairs folder
through the refiner and the song Wiener filter, then the level step's power complement and
quiet-bin floor apart and together, at several thresholds and floors (whole songs, one STFT;
the 40 dB rows are the level step of session 26). SI-SDR change, bleedless, fullness, median
level.

    python experiments/song_energy/level_parts.py data/calib_sm 20   # ~4 min on 2 cores
"""

import json
import sys

import numpy as np
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "song_trust"))
from collections import defaultdict
from pathlib import Path

from bleed_stages import read

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import bleed_and_fullness, si_sdr
from stemprover.models.refiner import (
    EPS,
    LEVEL_GAIN_MAX,
    RefinerModel,
    keep_quiet,
    song_wiener,
)

torch.set_num_threads(2)
model = RefinerModel.load("src/stemprover/weights/default")


def gamma_only(y, gate, x):
    total = y.abs().pow(2).sum(0)
    gamma = torch.sqrt(x.abs().pow(2) / (total + EPS)).clamp(1.0, LEVEL_GAIN_MAX)
    return y * (1 + gate.clamp_min(0) * (gamma - 1))


acc = defaultdict(list)
for folder, n in ((Path(sys.argv[1]), int(sys.argv[2])),):
    songs = defaultdict(list)
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["split"] == "valid":
            songs[r["song"]].append(r)
    for name in list(songs)[:n]:
        recs = songs[name]
        cfg, rate = model.stft, model.sample_rate
        arts = [read(folder, r["artifacted"]) for r in recs]
        refs = [read(folder, r["clean"]).numpy() for r in recs]
        mix = read(folder, recs[0]["mixture"])
        s, x = torch.stack([stft(a, cfg) for a in arts]), stft(mix, cfg)
        with torch.no_grad():
            y0, gate, p = model.refine_stems(s, x)
            yw = song_wiener(y0, gate, x)
            yg = gamma_only(yw, gate, x)
            cands = {
                "input": s,
                "wiener": yw,
                "gamma": yg,
                "quiet": keep_quiet(yw, s, 40.0),
                "level": keep_quiet(yg, s, 40.0),
                "quiet50": keep_quiet(yg, s, 50.0),
                "quiet45": keep_quiet(yg, s, 45.0),
                "quiet30": keep_quiet(yg, s, 30.0),
                "gamma_half": keep_quiet(yw + 0.5 * (yg - yw), s),
                "floor_y0": keep_quiet(yg, s, 40.0, floor=y0.abs()),
                "floor_min": keep_quiet(yg, s, 40.0, floor=torch.minimum(y0.abs(), s.abs())),
            }
        for j in range(len(recs)):
            for k, c in cands.items():
                e = istft(c[j], cfg, mix.shape[-1]).numpy()
                bl, fu = bleed_and_fullness(refs[j], e, rate)
                acc[k].append(
                    (
                        si_sdr(refs[j], e),
                        bl,
                        fu,
                        20
                        * np.log10(np.sqrt(np.mean(e**2)) / np.sqrt(np.mean(refs[j] ** 2)) + 1e-12),
                    )
                )
base = np.array(acc["input"])
print(sys.argv[1], len(base), "si_sdr change / bleedless / fullness / level")
for k, v in acc.items():
    v = np.array(v)
    print(
        f"{k:10s} {np.mean(v[:, 0] - base[:, 0]):+.2f}  {np.nanmean(v[:, 1]):.2f}  {np.nanmean(v[:, 2]):.2f}  {np.median(v[:, 3]):+.2f}"
    )
