"""The bundled detector's severities (overall and per band, per artifact type) of every
artifacted stem of some pair sets, read beside its mixture, for ``fit.py --quality-detector``.

    python experiments/song_trust/severities.py data/calib_sm --split valid --out sev.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from stemprover.analysis import analyze
from stemprover.audio import io
from stemprover.evaluation.run import split_records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--songs", type=int, default=0)
    args = ap.parse_args()
    ids, rows = [], []
    for folder in args.pairs:
        for n, recs in enumerate(split_records(folder, args.split)[1].values()):
            if args.songs and n >= args.songs:
                break
            mix, rate = io.read(folder / recs[0]["mixture"], "float32")[0], recs[0]["sample_rate"]
            for r in recs:
                out = analyze(io.read(folder / r["artifacted"], "float32")[0], rate, mix)
                vals = []
                for name in sorted(out):
                    vals += [
                        out[name]["score"],
                        *(out[name]["bands"][b] for b in sorted(out[name]["bands"])),
                    ]
                ids.append(r["id"])
                rows.append(vals)
            print(f"{len(ids)} stems", file=sys.stderr, flush=True)
    np.savez(args.out, ids=np.array(ids), sev=np.array(rows, dtype=np.float32))


if __name__ == "__main__":
    main()
