"""Two chains' outputs averaged (session 38): does averaging two equivalent runs of the
recipe (session 36: per stem they differ by 0.6–1.1 dB rms while their means agree) narrow the
per-stem spread and the stems that lose? On a pairs folder's valid songs, whole songs, one
STFT, each chain's song-mode output cached in its folder (``--cache``, made by running the
chain once; see the README).

    PYTHONPATH=experiments/song_trust:experiments/level_loss \
      python experiments/ensemble/outputs.py data/calib_sm \
      --cache /tmp/ownership_cache --cache /tmp/ens_cache_S2

Systems: each chain; ``mean``, their complex mean; ``mean, level kept``, that brought to the
members' mean energy per stem (averaging two estimates that disagree lowers the energy; a gain
is SI-SDR-neutral). SI-SDR change (share losing > 0.5 dB) overall and per input bin, level,
bleedless, fullness; and the rms difference between the members per stem.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from bleed_stages import load_model, valid_songs
from post_level import bin_table, scores

METRICS = ("si_sdr", "level", "bleedless", "fullness")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--cache", type=Path, action="append", required=True)
    ap.add_argument("--songs", type=int, default=0)
    a = ap.parse_args()
    model = load_model("src/stemprover/weights/default")  # for its STFT only
    rows: dict[str, list] = {}
    for n, song in enumerate(valid_songs(model, a.pairs, a.songs)):
        paths = [c / f"{a.pairs.name}_{n}.pt" for c in a.cache]
        if not all(p.exists() for p in paths):
            break
        outs = [torch.load(p) for p in paths]
        energy = lambda z: z.abs().pow(2).sum(dim=(1, 2, 3), keepdim=True)  # noqa: E731
        mean = torch.stack(outs).mean(0)
        kept = mean * torch.sqrt(
            torch.stack([energy(o) for o in outs]).mean(0) / energy(mean).clamp_min(1e-20)
        )
        systems = {"input": song.s, **{c.name: o for c, o in zip(a.cache, outs, strict=True)}}
        systems.update({"mean": mean, "mean, level kept": kept})
        for key, z in systems.items():
            for j, ref in enumerate(song.refs):
                got = scores(ref, song.wave(z[j]), 44100)
                rows.setdefault(key, []).append([got[k] for k in METRICS])
    bin_table(rows)
    r = {k: np.array(v) for k, v in rows.items()}
    members = [r[c.name][:, 0] for c in a.cache]
    print(
        f"members' per-stem SI-SDR difference: rms {np.sqrt(np.nanmean((members[0] - members[1]) ** 2)):.2f} dB"
    )


if __name__ == "__main__":
    main()
