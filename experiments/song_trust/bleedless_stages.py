"""Where bleedless goes (session 27): each stem of a pairs folder's valid songs through the
classical prior, the refiner, the song Wiener filter, the level step and the trust layer
(whole songs, one STFT); SI-SDR, bleedless and fullness by stage, change over the input,
grouped by simulated bleed.

    python experiments/song_trust/bleedless_stages.py data/calib_sm   # ~5 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from bleed_stages import read

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import bleed_and_fullness, si_sdr
from stemprover.models.refiner import RefinerModel, keep_quiet, song_level, song_wiener
from stemprover.models.trust import stem_type

STAGES = ("prior", "refined", "wiener", "level", "trust")
METRICS = ("si_sdr", "bleedless", "fullness")


def scores(ref: np.ndarray, est: np.ndarray, rate: int) -> dict[str, float]:
    bl, fu = bleed_and_fullness(ref, est, rate)
    return {"si_sdr": si_sdr(ref, est), "bleedless": bl, "fullness": fu}


def stages(model: RefinerModel, folder: Path, recs: list[dict]) -> list[dict]:
    """One song's stems: each stage's scores, and the input's."""
    cfg, rate = model.stft, model.sample_rate
    arts = [read(folder, r["artifacted"]) for r in recs]
    refs = [read(folder, r["clean"]).numpy() for r in recs]
    mix = read(folder, recs[0]["mixture"])
    s, x = torch.stack([stft(a, cfg) for a in arts]), stft(mix, cfg)
    kinds = torch.tensor([stem_type(r["stem"]) for r in recs])
    with torch.no_grad():
        y0, gate, p = model.refine_stems(s, x)
        yw = song_wiener(y0, gate, x)
        yl = song_level(yw, gate, x, s)
        yt = keep_quiet(model.trust(s, x, p, yl, gate, kinds, None), s)
    out = []
    for j, rec in enumerate(recs):
        cells = {
            k: scores(refs[j], istft(c[j], cfg, mix.shape[-1]).numpy(), rate)
            for k, c in zip(("input", *STAGES), (s, p, y0, yw, yl, yt), strict=True)
        }
        out.append({"bleed": "bleed" in rec["artifacts"], "producer": rec["producer"], **cells})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--model", default="src/stemprover/weights/default")
    a = ap.parse_args()
    torch.set_num_threads(2)
    model = RefinerModel.load(a.model)
    songs = defaultdict(list)
    for line in (a.pairs / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["split"] == "valid":
            songs[rec["song"]].append(rec)
    rows = [row for recs in songs.values() for row in stages(model, a.pairs, recs)]
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
