"""Where good stems with bleed lose (session 26): each stem of a pairs folder's valid songs
through the refiner, the song Wiener filter and the level step (whole songs, one STFT),
SI-SDR change over the input by stage, grouped by simulated bleed and input >= 10 dB; and
the refiner's mean |gate|.

    python experiments/song_trust/bleed_stages.py data/calib_sm   # ~4 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import si_sdr
from stemprover.models.refiner import RefinerModel, song_level, song_wiener

STAGES = ("refined", "wiener", "level")


def read(folder: Path, path: str) -> torch.Tensor:
    return torch.from_numpy(sf.read(folder / path, always_2d=True)[0].T.astype(np.float32))


def stages(model: RefinerModel, folder: Path, recs: list[dict]) -> list[dict]:
    """One song's stems: input SI-SDR, each stage's change over it, mean |gate|."""
    cfg = model.stft
    arts = [read(folder, r["artifacted"]) for r in recs]
    refs = [read(folder, r["clean"]).numpy() for r in recs]
    mix = read(folder, recs[0]["mixture"])
    s, x = torch.stack([stft(a, cfg) for a in arts]), stft(mix, cfg)
    with torch.no_grad():
        y0, gate, _ = model.refine_stems(s, x)
        yw = song_wiener(y0, gate, x)
        yl = song_level(yw, gate, x, s)
    out = []
    for j, rec in enumerate(recs):
        score = [si_sdr(refs[j], istft(c[j], cfg, mix.shape[-1]).numpy()) for c in (s, y0, yw, yl)]
        row = {"bleed": "bleed" in rec["artifacts"], "input": score[0]}
        row.update({k: v - score[0] for k, v in zip(STAGES, score[1:], strict=True)})
        row["gate"] = gate[j].abs().mean().item()
        out.append(row)
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
    groups = defaultdict(list)
    for recs in songs.values():
        for row in stages(model, a.pairs, recs):
            key = ("bleed" if row["bleed"] else "no bleed", ">=10" if row["input"] >= 10 else "<10")
            groups[key].append(row)
    print("| stems | input | n | " + " | ".join(STAGES) + " | mean abs gate |")
    print("|---|---|---|" + "---|" * (len(STAGES) + 1))
    for key in sorted(groups):
        rows = groups[key]
        cells = [f"{np.mean([r[k] for r in rows]):+.2f}" for k in STAGES]
        gate = np.mean([r["gate"] for r in rows])
        print(f"| {key[0]} | {key[1]} dB | {len(rows)} | " + " | ".join(cells) + f" | {gate:.2f} |")


if __name__ == "__main__":
    main()
