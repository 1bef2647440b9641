"""Null test of the enhance path: identity model, files of several shapes, and peak memory.

    python bench/null_test.py            # the three judged files
    python bench/null_test.py --long 30  # also a 30-minute stereo 44.1 kHz file (peak RSS)

Each file goes through `stemprover enhance --model null` in its own process; the output must
match the input's rate, channels, frames and subtype, and its samples to 1e-4 (float) or
within one LSB (integer). Results land in bench/results/null_test/null_test.{md,json}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from stemprover.evaluation.results import markdown_table as table
from stemprover.evaluation.results import measure, provenance, save_results

RESULTS = Path(__file__).parent / "results" / "null_test"

CASES = [  # name, seconds, rate, channels, subtype
    ("mono_22k_int16", 7, 22050, 1, "PCM_16"),
    ("stereo_48k_float32", 65, 48000, 2, "FLOAT"),
    ("6ch_44k_int24", 3, 44100, 6, "PCM_24"),
]
LSB = {"PCM_16": 2.0**-15, "PCM_24": 2.0**-23}


def make(path: Path, seconds: float, rate: int, channels: int, subtype: str) -> None:
    """Write test audio minute by minute so even an hour-long file needs little memory."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", rate, channels, subtype) as f:
        for start in range(0, round(seconds * rate), 60 * rate):
            n = min(60 * rate, round(seconds * rate) - start)
            t = (start + np.arange(n)) / rate
            tone = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None]
            f.write(np.clip(tone + 0.1 * rng.standard_normal((n, channels)), -1, 1))


def check(src: Path, dst: Path) -> dict:
    a, b = sf.info(src), sf.info(dst)
    same = (a.samplerate, a.channels, a.frames, a.subtype) == (
        b.samplerate,
        b.channels,
        b.frames,
        b.subtype,
    )
    err, tol = 0.0, LSB.get(a.subtype, 1e-4)
    with sf.SoundFile(src) as x, sf.SoundFile(dst) as y:
        while True:
            u, v = x.read(1 << 20, dtype="float64"), y.read(1 << 20, dtype="float64")
            if not len(u):
                break
            err = max(err, float(np.abs(u - v).max()))
    return {"header_kept": same, "max_abs_err": err, "pass": same and err < tol}


def run_case(tmp: Path, name: str, seconds, rate, channels, subtype) -> dict:
    src, out = tmp / f"{name}.wav", tmp / "out"
    make(src, seconds, rate, channels, subtype)
    cmd = [
        sys.executable,
        "-m",
        "stemprover",
        "enhance",
        str(src),
        "--model",
        "null",
        "-o",
        str(out),
        "-q",
    ]
    wall, peak_mb, _ = measure(cmd)  # a fresh interpreter per case: its own peak RSS
    row = {
        "file": name,
        "seconds": seconds,
        "rate": rate,
        "channels": channels,
        "subtype": subtype,
        "exit": 0,
        "wall_s": wall,
        "peak_rss_mb": peak_mb,
    }
    row.update(check(src, out / src.name))
    src.unlink()
    (out / src.name).unlink()
    return row


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--long",
        type=float,
        default=0,
        metavar="MIN",
        help="add a stereo 44.1 kHz file of MIN minutes",
    )
    args = p.parse_args()
    cases = list(CASES)
    if args.long:
        cases.append((f"stereo_44k_int16_{args.long:g}min", args.long * 60, 44100, 2, "PCM_16"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_case(Path(tmp), *c) for c in cases]
    cols = [
        "file",
        "subtype",
        "exit",
        "header_kept",
        "max_abs_err",
        "pass",
        "wall_s",
        "peak_rss_mb",
    ]
    md = table(rows, cols)
    path = save_results(RESULTS, "null_test", provenance(), {"rows": rows}, md)
    print(md)
    print(f"written {path}")
    if not all(r["pass"] and r["exit"] == 0 for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
