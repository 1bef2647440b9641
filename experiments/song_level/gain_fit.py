"""Is the output's level fixable in song mode? The refiner's stems come out below the
reference's level (bench: -1.4 dB; the input -2.2), and the issue's target is within 0.5 dB.
In a song folder the mixture says how loud the stems together should be. After the product's
song mode (``pipeline.enhance_song``, song filter on), on whole files:

- ``product``: as shipped.
- ``common gain``: every stem times one gain b = <X, ΣY> / <ΣY, ΣY> (least squares of the
  mixture by the stems' sum), over the whole song, bounded to [0.5, 2].
- ``per-stem gains``: gains a_j by least squares of the mixture on the stems
  (X ≈ Σ a_j Y_j), bounded to [0.5, 2].

Gains leave SI-SDR unchanged; the table gives the level vs the reference (mean and mean
absolute), SDR change over the input and the share of pairs whose level is within 0.5 dB.

    python experiments/song_level/gain_fit.py data/v2_fluid --split valid
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.audio import io
from stemprover.evaluation.metrics import level_db, sdr, si_sdr
from stemprover.evaluation.run import input_bin, split_records

SYSTEMS = ("product", "common gain", "per-stem gains")
LO, HI = 0.5, 2.0


def gains(ys: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """ys ``(J, C, T)``, x ``(C, T)`` -> each system's gain per stem ``(J,)``."""
    total = ys.sum(0)
    b = float(np.vdot(total, x) / max(np.vdot(total, total), 1e-12))
    a, *_ = np.linalg.lstsq(ys.reshape(len(ys), -1).T, x.reshape(-1), rcond=None)
    return {
        "product": np.ones(len(ys)),
        "common gain": np.full(len(ys), np.clip(b, LO, HI)),
        "per-stem gains": np.clip(a, LO, HI),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    pipe = load_pipeline(EnhanceOptions("default", "none"))
    records, songs = split_records(args.pairs, args.split)
    table = defaultdict(lambda: defaultdict(list))

    def read(rel):
        return io.read(args.pairs / rel, "float64")[0]

    for recs in songs.values():
        mix = read(recs[0]["mixture"])
        arts = [read(r["artifacted"]) for r in recs]
        ys = np.stack(pipe.enhance_song(arts, recs[0]["sample_rate"], mix))
        g = gains(ys, mix)
        for j, rec in enumerate(recs):
            ref = read(rec["clean"])
            keys = ("all", input_bin(si_sdr(ref, arts[j])), rec["stem"])
            before = sdr(ref, arts[j])
            for k in keys:
                table[k]["input level"].append(level_db(ref, arts[j]))
            for name in SYSTEMS:
                est = g[name][j] * ys[j]
                for k in keys:
                    table[k][name + " level"].append(level_db(ref, est))
                    table[k][name + " sdr"].append(sdr(ref, est) - before)
                    table[k][name + " gain"].append(20 * np.log10(g[name][j]))
    print(f"### {args.pairs} ({args.split}, {len(records)} pairs)\n")
    print("level vs the reference, dB: mean / mean |level| / share within 0.5 dB; SDR change")
    print("over the input, dB; the gain applied, dB (mean)\n")
    print("| group | n | input level | " + " | ".join(SYSTEMS) + " |")
    print("|---" * (len(SYSTEMS) + 3) + "|")
    order = ["all", "<5 dB", "5-10 dB", "10-15 dB", ">=15 dB", "vocals", "drums", "bass", "other"]
    for key in [k for k in order if k in table]:
        row = table[key]
        cells = []
        for name in SYSTEMS:
            lv = np.array(row[name + " level"])
            cells.append(
                f"{lv.mean():+.2f} / {np.abs(lv).mean():.2f} / {np.mean(np.abs(lv) <= 0.5):.0%};"
                f" SDR {np.nanmean(row[name + ' sdr']):+.2f}; gain {np.mean(row[name + ' gain']):+.2f}"
            )
        n = len(row["input level"])
        print(f"| {key} | {n} | {np.mean(row['input level']):+.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
