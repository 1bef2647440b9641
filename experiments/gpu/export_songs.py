"""Export the clean stems of already rendered songs as small mono FLAC multitracks.

A GPU machine of this project cannot reach the package registries or run FluidSynth, and
what travels to it is capped at 64 MiB, so the songs go there as clean stems only (mono,
16-bit FLAC, a few seconds each) and `stemprover pairs --multitrack` makes the training
pairs there, with as many artifact draws per song as wanted (experiments/gpu/train_gpu.sh).

    python experiments/gpu/export_songs.py data/train_pairs data/detector_pairs data/bleed_pairs \
        --out .gpu/songs --seconds 4 --budget-mb 40

Only songs of the ``train`` split of each pairs folder are exported, so the folders' valid
and test songs stay unseen. Relative stem levels are kept (one gain per song).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from stemprover.data.manifest import read_manifest

STEMS = ("vocals", "drums", "bass", "other")


def train_songs(folder: Path) -> list[str]:
    return list(dict.fromkeys(r["song"] for r in read_manifest(folder) if r["split"] == "train"))


def export_song(src: Path, dst: Path, seconds: float) -> int:
    stems = {}
    for stem in STEMS:
        audio, rate = sf.read(src / f"{stem}.wav", dtype="float64", always_2d=True)
        stems[stem] = audio.mean(axis=1)  # (T,) mono
    length = round(seconds * rate)
    total = sum(stems.values())
    # The loudest window of the song (by mixture energy), so that no stem is mostly silence.
    hop = rate // 4
    starts = range(0, max(1, len(total) - length + 1), hop)
    start = max(starts, key=lambda s: float(np.sum(total[s : s + length] ** 2)))
    window = {k: v[start : start + length] for k, v in stems.items()}
    peak = max(np.abs(sum(window.values())).max(), *(np.abs(v).max() for v in window.values()))
    gain = 0.9 / max(peak, 1e-9)
    dst.mkdir(parents=True, exist_ok=True)
    size = 0
    for stem, audio in window.items():
        path = dst / f"{stem}.flac"
        sf.write(path, audio * gain, rate, subtype="PCM_16")
        size += path.stat().st_size
    return size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pairs", nargs="+", type=Path, help="pairs folders with songs/<song>/*.wav")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--budget-mb", type=float, default=40.0, help="stop before this many MB")
    args = p.parse_args()
    used, count = 0, 0
    # Interleave the folders so that a budget cut keeps songs from each.
    queues = [[(f, s) for s in train_songs(f)] for f in args.pairs]
    order = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    for folder, song in order:
        size = export_song(folder / "songs" / song, args.out / song, args.seconds)
        if used + size > args.budget_mb * 1e6:
            for f in (args.out / song).iterdir():
                f.unlink()
            (args.out / song).rmdir()
            break
        used, count = used + size, count + 1
    print(f"{count} songs, {used / 1e6:.1f} MB -> {args.out}")


if __name__ == "__main__":
    main()
