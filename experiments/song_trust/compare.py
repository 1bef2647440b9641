"""Two ``stemprover evaluate`` runs of one model system side by side (e.g. song mode with and
without the trust layer): SI-SDR change over the input per input bin, stem and producer (share
of pairs losing more than 0.5 dB), then level, bleedless and fullness. Several pairs folders'
runs are pooled.

    python experiments/song_trust/compare.py --a /tmp/ev/v3_mixed_level /tmp/ev/bs_train_level \
        --b /tmp/ev/v3_mixed_trust /tmp/ev/bs_train_trust --names level trust
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from stemprover.evaluation.run import input_bin

ORDER = ["all", "<5 dB", "5-10 dB", "10-15 dB", ">=15 dB", "vocals", "drums", "bass", "other"]


def load(folders: list[Path]) -> dict:
    rows: dict = defaultdict(dict)
    for f in folders:
        for r in json.loads((f / "metrics.json").read_text())["rows"]:
            rows[r["pair_id"]][r["system"]] = r
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", nargs="+", type=Path, required=True)
    ap.add_argument("--b", nargs="+", type=Path, required=True)
    ap.add_argument("--names", nargs=2, default=["a", "b"])
    ap.add_argument("--system", default="model")
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    gains = defaultdict(lambda: ([], []))
    for pid, row in b.items():
        base, own = row["input"]["si_sdr"], row[args.system]
        for k in ("all", input_bin(base), own["stem"], f"producer:{own.get('producer', '?')}"):
            gains[k][0].append(a[pid][args.system]["si_sdr"] - base)
            gains[k][1].append(own["si_sdr"] - base)
    print(f"| group | n | {args.names[0]} | {args.names[1]} |\n|---|---|---|---|")
    for k in ORDER + sorted(set(gains) - set(ORDER)):
        if k in gains:
            cells = [f"{np.mean(v):+.2f} ({np.mean(np.array(v) < -0.5):.0%})" for v in gains[k]]
            print(f"| {k} | {len(gains[k][0])} | " + " | ".join(cells) + " |")
    for m in ("level_db", "bleedless", "fullness"):
        vals = [
            np.nanmean([r[s][m] for r in d.values()])
            for d, s in ((b, "input"), (a, args.system), (b, args.system))
        ]
        print(
            f"- {m}: input {vals[0]:.2f}, {args.names[0]} {vals[1]:.2f}, {args.names[1]} {vals[2]:.2f}"
        )


if __name__ == "__main__":
    main()
