"""Spectrograms of one synthetic song's stems and mixture, for docs/synthetic_song.png.

python bench/plot_song.py PAIRS_DIR [--song NAME] [--out docs/synthetic_song.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import soundfile as sf


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("pairs", type=Path)
    p.add_argument("--song")
    p.add_argument("--out", type=Path, default=Path("docs/synthetic_song.png"))
    args = p.parse_args()
    songs = sorted((args.pairs / "songs").iterdir())
    song = args.pairs / "songs" / args.song if args.song else songs[0]
    names = ["mixture", "vocals", "drums", "bass", "other"]
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 11), sharex=True)
    for ax, name in zip(axes, names, strict=True):
        x, rate = sf.read(song / f"{name}.wav")
        mono = x.mean(axis=1)
        ax.specgram(mono, NFFT=2048, Fs=rate, noverlap=1536, cmap="magma", vmin=-130, vmax=-20)
        ax.set_ylim(0, 12000)
        ax.set_ylabel(f"{name}\nHz")
    axes[-1].set_xlabel("seconds")
    fig.suptitle(f"synthetic song {song.name}: stems rendered alone with FluidSynth")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
