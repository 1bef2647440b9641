"""Song mode without the song filter (``--song-filter none``: each stem refined with the
mixture and its siblings, as the diffusion stage and the adapters receive it) on whole
validation songs, for several refiner weights: SI-SDR change (share losing > 0.5 dB) / level,
by group. Markdown on stdout.

    python experiments/stem_confidence/per_stem.py /tmp/w_mwf,default data/v3_mixed \
        data/bs_train > results/valid_per_stem_prior.md
    python experiments/stem_confidence/per_stem.py default data/calib_sm \
        --rows results/calib_per_stem.jsonl          # one JSON line per pair as well

``song_filter.py`` sets these rows beside ``collect.py``'s (the song filter on).
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.evaluation.metrics import level_db, si_sdr
from stemprover.evaluation.run import input_bin, song_audio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", help="comma-separated refiner model names or folders")
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--rows", type=Path, help="also write one JSON line per pair here")
    args = ap.parse_args()
    models, folders = args.models.split(","), args.pairs
    rows = args.rows.open("w") if args.rows else None
    pipes = {}
    for m in models:
        p = load_pipeline(EnhanceOptions(m, "none"))
        p.song_filter = "none"
        pipes[m] = p
    table = defaultdict(lambda: defaultdict(list))
    for folder in folders:
        for recs, mix, rate, arts, refs in song_audio(folder, "valid"):
            for m, p in pipes.items():
                outs = p.enhance_song(arts, rate, mix)
                for j, rec in enumerate(recs):
                    base = si_sdr(refs[j], arts[j])
                    d = si_sdr(refs[j], outs[j]) - base
                    if rows:
                        row = {"id": rec["id"], "model": m, "input": base, "change": d}
                        rows.write(json.dumps(row) + "\n")
                    for k in ("all", input_bin(base), rec["producer"]):
                        table[k][m].append((d, level_db(refs[j], outs[j])))
            print(recs[0]["song"], file=sys.stderr, flush=True)
    print("| group | n | " + " | ".join(models) + " |")
    print("|---" * (len(models) + 2) + "|")
    for k, row in table.items():
        n = len(row[models[0]])
        cells = []
        for m in models:
            a = np.array(row[m])
            cells.append(
                f"{a[:, 0].mean():+.2f} ({(a[:, 0] < -0.5).mean():.0%}) / {np.nanmean(a[:, 1]):+.2f}"
            )
        print(f"| {k} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
