"""Where good stems with bleed lose (session 26): each stem of a pairs folder's valid songs
through the refiner, the song Wiener filter and the level step (whole songs, one STFT),
SI-SDR change over the input by stage, grouped by simulated bleed and input >= 10 dB; and
the refiner's mean |gate|.

    python experiments/song_trust/bleed_stages.py data/calib_sm   # ~4 min on 2 cores
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import song_audio
from stemprover.models.refiner import RefinerModel, song_level, song_wiener

STAGES = ("refined", "wiener", "level")


class Song:
    """One song of a pairs folder as the stage scripts read it: its records, the clean stems
    (float32 ``(C, T)`` arrays), the artifacted stems' and the mixture's STFTs ``s``
    ``(J, C, F, N)`` and ``x`` ``(C, F, N)`` in the model's configuration; ``wave(z)`` is a
    spectrogram back in time, at the song's length."""

    def __init__(self, model: RefinerModel, recs, mix, arts, refs) -> None:
        f32 = lambda a: torch.from_numpy(a.astype(np.float32))  # noqa: E731
        self.recs, self.cfg, self.length = recs, model.stft, mix.shape[-1]
        self.refs = [r.astype(np.float32) for r in refs]
        self.s = torch.stack([stft(f32(a), self.cfg) for a in arts])
        self.x = stft(f32(mix), self.cfg)

    def wave(self, z: torch.Tensor) -> np.ndarray:
        return istft(z, self.cfg, self.length).numpy()


def valid_songs(model: RefinerModel, folder: Path, limit: int = 0):
    """The valid split's songs of ``folder`` (the first ``limit``; 0: all) as :class:`Song`."""
    for n, (recs, mix, _rate, arts, refs) in enumerate(song_audio(folder, "valid")):
        if limit and n >= limit:
            return
        yield Song(model, recs, mix, arts, refs)


def load_model(name: str) -> RefinerModel:
    torch.set_num_threads(2)
    return RefinerModel.load(name)


def cli(doc: str) -> argparse.Namespace:
    """The stage scripts' options: a pairs folder, ``--model``, ``--songs`` (0: all)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--model", default="src/stemprover/weights/default")
    ap.add_argument("--songs", type=int, default=0)
    return ap.parse_args()


def stages(model: RefinerModel, song: Song) -> list[dict]:
    """One song's stems: input SI-SDR, each stage's change over it, mean |gate|."""
    s, x = song.s, song.x
    with torch.no_grad():
        y0, gate, _ = model.refine_stems(s, x)
        yw = song_wiener(y0, gate, x)
        yl = song_level(yw, gate, x, s)
    out = []
    for j, rec in enumerate(song.recs):
        score = [si_sdr(song.refs[j], song.wave(c[j])) for c in (s, y0, yw, yl)]
        row = {"bleed": "bleed" in rec["artifacts"], "input": score[0]}
        row.update({k: v - score[0] for k, v in zip(STAGES, score[1:], strict=True)})
        row["gate"] = gate[j].abs().mean().item()
        out.append(row)
    return out


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    groups = defaultdict(list)
    for song in valid_songs(model, a.pairs, a.songs):
        for row in stages(model, song):
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
