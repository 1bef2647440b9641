"""Summarise a ``stemprover evaluate`` run's ``metrics.json`` as the umx tables of the README:
SI-SDR change over the input per system (share of pairs losing more than 0.5 dB) by input
bin and stem (``evaluation.run.gain_table``); then level, bleedless and fullness per system.

    stemprover evaluate --pairs data/heldout_umx --out /tmp/eval_umx --model default \
      --systems input,wiener-mc
    python experiments/song_energy/eval_summary.py /tmp/eval_umx/metrics.json

Several ``metrics.json`` (e.g. one per pairs folder, same systems) are pooled.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from stemprover.evaluation.run import gain_table, input_bin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("metrics", nargs="+", help="metrics.json files (their pairs pooled)")
    args = ap.parse_args()
    rows = [r for m in args.metrics for r in json.loads(Path(m).read_text())["rows"]]
    by_pair = defaultdict(dict)
    for r in rows:
        by_pair[r["pair_id"]][r["system"]] = r
    systems = list(dict.fromkeys(r["system"] for r in rows))
    gains, other = defaultdict(lambda: defaultdict(list)), defaultdict(lambda: defaultdict(list))
    for pair in by_pair.values():
        base = pair["input"]["si_sdr"]
        for name in systems:
            r = pair[name]
            for k in ("all", input_bin(base), r["stem"]):
                gains[k][name].append(r["si_sdr"] - base)
            for m in ("level_db", "bleedless", "fullness"):
                other[name][m].append(r[m])
    print(gain_table(gains, systems) + "\n")
    for name in systems:
        print(f"- {name}: " + ", ".join(f"{m} {np.nanmean(v):.2f}" for m, v in other[name].items()))


if __name__ == "__main__":
    main()
