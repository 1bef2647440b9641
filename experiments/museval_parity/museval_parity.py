"""Compare StemProver's median framewise SDR with museval's on real pairs.

    python experiments/museval_parity/museval_parity.py PAIRS_DIR [--limit 8]

museval (BSS Eval v4, `museval.evaluate`, 1 s windows) treats a stereo stem as one
multichannel image; StemProver's `sdr_median` scores each channel with fast_bss_eval and
averages. This script prints both and their difference per pair. museval needs ffmpeg to import.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.evaluation.metrics import sdr_median
from stemprover.evaluation.results import markdown_table, provenance, save_results


def main() -> None:
    import museval

    p = argparse.ArgumentParser()
    p.add_argument("pairs", type=Path)
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--save", action="store_true")
    args = p.parse_args()
    recs = [json.loads(x) for x in (args.pairs / "manifest.jsonl").read_text().splitlines()][
        : args.limit
    ]
    rows = []
    for r in recs:
        ref, info = io.read(args.pairs / r["clean"], "float64")
        est, _ = io.read(args.pairs / r["artifacted"], "float64")
        sdr, *_ = museval.evaluate(
            ref.T[None], est.T[None], win=info.sample_rate, hop=info.sample_rate
        )
        theirs = float(np.nanmedian(sdr[0]))
        ours = sdr_median(ref, est, info.sample_rate)
        rows.append({"pair": r["id"], "museval": theirs, "stemprover": ours, "diff": ours - theirs})
    md = markdown_table(rows, ["pair", "museval", "stemprover", "diff"])
    print(md)
    print(f"max |diff| {max(abs(r['diff']) for r in rows):.3f} dB")
    if args.save:
        save_results(
            Path(__file__).parent / "results", "museval_parity", provenance(), {"rows": rows}, md
        )


if __name__ == "__main__":
    main()
