"""What the song filter does per stem: ``per_stem.py`` rows (the stems refined with their
siblings, no song filter) beside ``collect.py`` rows (the shipped song mode, song filter
``level``) of the same weights and songs. Per input bin: SI-SDR change without and with the
filter, pairs the filter costs more than 0.5 dB, and pairs losing more than 0.5 dB against
the input either way. Markdown on stdout.

    python experiments/stem_confidence/song_filter.py results/valid_per_stem.jsonl \\
        results/valid_second_stage.jsonl
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from analyze import load
from compare import ONE

from stemprover.evaluation.run import input_bin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("per_stem", help="per_stem.py --rows output")
    ap.add_argument("song", help="collect.py output (song filter on)")
    args = ap.parse_args()
    alone = {r["id"]: r for r in load(args.per_stem)}
    groups = defaultdict(list)
    for r in load(args.song):
        if r["id"] not in alone:
            continue
        row = (alone[r["id"]]["change"], r["gains"][ONE], r["id"])
        for key in ("all", input_bin(r["input"]), r["stem"]):
            groups[key].append(row)
    print(
        "| group | n | no song filter | song filter | filter costs > 0.5 dB | harmed without / with |"
    )
    print("|---|---|---|---|---|---|")
    for key, rows in groups.items():
        a = np.array([r[:2] for r in rows])
        cost = int(np.sum(a[:, 1] - a[:, 0] < -0.5))
        harmed = f"{int(np.sum(a[:, 0] < -0.5))} / {int(np.sum(a[:, 1] < -0.5))}"
        print(
            f"| {key} | {len(a)} | {a[:, 0].mean():+.2f} | {a[:, 1].mean():+.2f} | {cost} | "
            f"{harmed} |"
        )
    worst = sorted((r for r in groups["all"]), key=lambda r: r[1] - r[0])[:5]
    print(
        "\nThe filter's five largest costs: "
        + ", ".join(f"{i} ({a:+.2f} → {b:+.2f})" for a, b, i in worst)
    )


if __name__ == "__main__":
    main()
