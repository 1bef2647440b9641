"""Throughput of `stemprover pairs` and the SDR of artifacted vs clean, measured independently.

    python experiments/pairs_stats/pairs_stats.py [--songs 8] [--seconds 10] [--seed 1] [--producer umx]

SDR here is the plain energy ratio 10·log10(|s|² / |s - ŝ|²), computed with numpy from the
files alone (not with StemProver's metrics). Results: experiments/pairs_stats/results/pairs_stats.{md,json}.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from stemprover.evaluation.results import markdown_table as table
from stemprover.evaluation.results import provenance, save_results

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--songs", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--producer", action="append", help="as `stemprover pairs`; repeatable")
    args = p.parse_args()
    producers = [x for name in args.producer or [] for x in ("--producer", name)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pairs"
        began = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "stemprover",
                "pairs",
                "--out",
                str(out),
                "--synthetic",
                str(args.songs),
                "--seconds",
                str(args.seconds),
                "--seed",
                str(args.seed),
                "-q",
                *producers,
            ],
            check=True,
        )
        wall = time.perf_counter() - began
        recs = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        groups: dict[str, list[float]] = collections.defaultdict(list)
        for r in recs:
            clean = sf.read(out / r["clean"])[0]
            est = sf.read(out / r["artifacted"])[0]
            sdr = float(10 * np.log10(np.sum(clean**2) / np.sum((clean - est) ** 2)))
            for key in [
                "all",
                f"producer:{r['producer']}",
                f"stem:{r['stem']}",
                *(f"artifact:{a}" for a in r["artifacts"]),
            ]:
                groups[key].append(sdr)
    audio_min = sum(r["duration"] for r in recs) / 60
    rows = [
        {
            "group": k,
            "n": len(v),
            "median_sdr": float(np.median(v)),
            "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)),
            "min": min(v),
            "max": max(v),
        }
        for k, v in sorted(groups.items())
    ]
    speed = (
        f"{len(recs)} pairs, {audio_min:.1f} min of paired audio in {wall:.1f} s wall: "
        f"**{audio_min / (wall / 60):.1f} min of pairs per minute** (2-core target: >= 10)"
    )
    md = (
        speed
        + "\n\nSDR of artifacted vs clean stem (dB):\n\n"
        + table(rows, ["group", "n", "median_sdr", "p10", "p90", "min", "max"])
    )
    print(md)
    print(
        "written",
        save_results(
            RESULTS,
            "pairs_stats" + "".join(f"_{n.split('=')[0]}" for n in args.producer or []),
            provenance(),
            {"rows": rows, "wall_s": wall, "audio_min": audio_min},
            md,
        ),
    )


if __name__ == "__main__":
    main()
