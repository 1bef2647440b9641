"""Per-stem headroom from ``quiet_floor.py --per-pair`` lines: the mean SI-SDR change of each
system, of an oracle that picks the best of a set of systems per stem, and how often each
system is the best, by input-quality bin.

    python experiments/song_energy/headroom.py results/calib_headroom.jsonl \
        --pick input,classical,shipped
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from stemprover.evaluation.run import input_bin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lines", type=Path)
    ap.add_argument("--pick", default="input,classical,shipped", help="the oracle's choices")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.lines.read_text().splitlines()]
    pick = args.pick.split(",")
    systems = list(rows[0]["si_sdr_change"])
    groups = defaultdict(list)
    for r in rows:
        groups["all"].append(r)
        groups[input_bin(r["input_db"])].append(r)
    head = [*systems, f"oracle of {'/'.join(pick)}"]
    print(f"{args.lines}: SI-SDR change; the oracle's choices (share of stems)\n")
    print("| group | n | " + " | ".join(head) + " | chosen |")
    print("|---" * (len(head) + 3) + "|")
    for key, rs in groups.items():
        change = {s: np.array([r["si_sdr_change"][s] for r in rs]) for s in systems}
        best = np.stack([change[s] for s in pick])
        share = np.bincount(best.argmax(0), minlength=len(pick)) / len(rs)
        cells = [f"{change[s].mean():+.2f}" for s in systems] + [f"{best.max(0).mean():+.2f}"]
        chosen = ", ".join(f"{s} {f:.0%}" for s, f in zip(pick, share, strict=True))
        print(f"| {key} | {len(rs)} | " + " | ".join(cells) + f" | {chosen} |")


if __name__ == "__main__":
    main()
