"""Systems side by side from collect.py's JSON lines (α = 1: the system as run), by group:
SI-SDR change (share of pairs losing more than 0.5 dB); with --metrics also level vs the
reference, bleedless and fullness.

    python experiments/stem_confidence/compare.py shipped=/tmp/a.jsonl "dz 0.1=/tmp/b.jsonl"
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from analyze import load
from collect import ALPHAS

from stemprover.evaluation.run import input_bin

ONE = int(np.flatnonzero(ALPHAS == 1.0)[0])  # the system as run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("systems", nargs="+", help="label=path")
    args = ap.parse_args()
    runs = {}
    for spec in args.systems:
        label, path = spec.split("=", 1)
        runs[label] = {r["id"]: r for r in load(path)}
    ids = sorted(set.intersection(*(set(r) for r in runs.values())))
    first = next(iter(runs.values()))
    groups = defaultdict(list)
    for i in ids:
        r = first[i]
        for k in ("all", input_bin(r["input"]), r["stem"], r["producer"]):
            groups[k].append(i)
    has_metrics = all("metrics" in next(iter(r.values())) for r in runs.values())
    names = list(runs)
    head = ["input", *names] if has_metrics else names
    print(
        f"{len(ids)} pairs; SI-SDR change (share losing > 0.5 dB)"
        + (" / level / bleedless / fullness" if has_metrics else "")
        + "\n"
    )
    print("| group | n | " + " | ".join(head) + " |")
    print("|---" * (len(head) + 2) + "|")
    for k, idx in groups.items():
        cells = []
        if has_metrics:
            m = np.nanmean([first[i]["metrics"]["input"] for i in idx], 0)
            cells.append(f"+0.00 / {m[0]:+.2f} / {m[1]:.1f} / {m[2]:.1f}")
        for n in names:
            g = np.array([runs[n][i]["gains"][ONE] for i in idx])
            cell = f"{g.mean():+.2f} ({np.mean(g < -0.5):.0%})"
            if has_metrics:
                m = np.nanmean([runs[n][i]["metrics"]["output"] for i in idx], 0)
                cell += f" / {m[0]:+.2f} / {m[1]:.1f} / {m[2]:.1f}"
            cells.append(cell)
        print(f"| {k} | {len(idx)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
