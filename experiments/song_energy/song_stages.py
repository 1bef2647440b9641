"""One song through the default's song mode, stage by stage: per stem the SI-SDR change over
its input of the classical prior (the multichannel Wiener filter of the mixture over the
input stems), the prior with what the stems leave out as one more source (``mwf-rest``), the
network's output, after the song Wiener filter, after the level step, and the network's
energy-weighted mean positive gate. Whole-song STFTs (no streaming segments), so the last
column differs from ``enhance`` by the level step's per-segment quiet threshold only.

    python experiments/song_energy/song_stages.py data/calib_sm m2160000-0000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import song_audio
from stemprover.models.refiner import RefinerModel, song_level, song_wiener


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("song")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--model", default="src/stemprover/weights/default")
    args = ap.parse_args()
    model = RefinerModel.load(args.model)
    cfg = model.stft
    for recs, mix, _rate, arts, refs in song_audio(args.pairs, args.split):
        if recs[0]["song"] != args.song:
            continue
        s = stft(torch.from_numpy(np.stack(arts)).float(), cfg)
        x = stft(torch.from_numpy(mix).float(), cfg)
        with torch.no_grad():
            y, gate, prior = model.refine_stems(s, x)
            wiener = song_wiener(y, gate, x)
            level = song_level(wiener, gate, x, s)
            rest = (x - s.sum(0)).abs()[None]
            prior_rest = multichannel_wiener(torch.cat([s.abs(), rest]), x, target=None)
        stages = {
            "prior": prior,
            "mwf-rest": prior_rest[: len(s)].to(s.dtype),
            "network": y,
            "song wiener": wiener,
            "level": level,
        }
        print(f"### {args.song} ({args.pairs}), {args.model}\n")
        print("| stem | artifacts | input SI-SDR | " + " | ".join(stages) + " | gate |")
        print("|---" * (len(stages) + 4) + "|")
        for j, rec in enumerate(recs):
            base = si_sdr(refs[j], arts[j])
            cells = [
                f"{si_sdr(refs[j], istft(z[j], cfg, arts[j].shape[-1]).numpy()) - base:+.2f}"
                for z in stages.values()
            ]
            w = s[j].abs() ** 2
            g = float((gate[j].clamp_min(0) * w).sum() / w.sum())
            arts_ = ", ".join(f"{k} {v:.2f}" for k, v in rec["artifacts"].items())
            print(f"| {rec['id']} | {arts_} | {base:.1f} | " + " | ".join(cells) + f" | {g:.2f} |")


if __name__ == "__main__":
    main()
