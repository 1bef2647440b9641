"""Where bleedless goes (session 27): each stem of a pairs folder's valid songs through the
classical prior, the refiner, the song Wiener filter, the level step and the trust layer
(whole songs, one STFT); SI-SDR, bleedless and fullness by stage, change over the input,
grouped by simulated bleed.

    python experiments/song_trust/bleedless_stages.py data/calib_sm   # ~5 min on 2 cores
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from bleed_stages import Song, cli, load_model, valid_songs

from stemprover.evaluation.metrics import bleed_and_fullness, si_sdr
from stemprover.models.refiner import RefinerModel, song_level, song_wiener

STAGES = ("prior", "refined", "wiener", "level", "trust")
METRICS = ("si_sdr", "bleedless", "fullness")


def scores(ref: np.ndarray, est: np.ndarray, rate: int) -> dict[str, float]:
    bl, fu = bleed_and_fullness(ref, est, rate)
    return {"si_sdr": si_sdr(ref, est), "bleedless": bl, "fullness": fu}


def stages(model: RefinerModel, song: Song) -> list[dict]:
    """One song's stems: each stage's scores, and the input's."""
    s, x = song.s, song.x
    with torch.no_grad():
        y0, gate, p = model.refine_stems(s, x)
        yw = song_wiener(y0, gate, x)
        yl = song_level(yw, gate, x, s)
        yt = model.song_trust(s, x, yl, gate, p, [r["stem"] for r in song.recs])
    out = []
    for j, rec in enumerate(song.recs):
        cells = {
            k: scores(song.refs[j], song.wave(c[j]), model.sample_rate)
            for k, c in zip(("input", *STAGES), (s, p, y0, yw, yl, yt), strict=True)
        }
        out.append({"bleed": "bleed" in rec["artifacts"], "producer": rec["producer"], **cells})
    return out


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    rows = [row for song in valid_songs(model, a.pairs, a.songs) for row in stages(model, song)]
    groups = defaultdict(list)
    for row in rows:
        groups["bleed" if row["bleed"] else "no bleed"].append(row)
        groups["all"].append(row)
    print("| stems | n | metric | input | " + " | ".join(STAGES) + " |")
    print("|---|---|---|---|" + "---|" * len(STAGES))
    for key in sorted(groups):
        g = groups[key]
        for m in METRICS:
            base = np.nanmean([r["input"][m] for r in g])
            cells = [f"{np.nanmean([r[k][m] for r in g]) - base:+.2f}" for k in STAGES]
            print(f"| {key} | {len(g)} | {m} | {base:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
