"""Per stem, how far the shipped default is from the better of itself, ``wiener-mc`` and the
input: the headroom a perfect per-stem choice among them would add, by producer, stem type and
input quality, from an evaluate (or bench) run with those systems.

    stemprover evaluate --pairs data/calib_sm --split valid --out /tmp/ev/calib_wmc \
        --model default --systems input,wiener-mc
    python experiments/song_trust/choice_headroom.py /tmp/ev/calib_wmc/metrics.csv
    python experiments/song_trust/choice_headroom.py \
        bench/results/bench_quality/bench_heldout_metrics.csv refiner   # held-out: read only
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict

from stemprover.evaluation.run import input_bin


def main(path: str, model: str = "model") -> None:
    """``model``: the default's system name ("model" in evaluate, "refiner" in the bench)."""
    rows: dict[str, dict[str, dict]] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["pair_id"], {})[row["system"]] = row

    def gain(pair: str, system: str) -> float:
        return float(rows[pair][system]["si_sdr"]) - float(rows[pair]["input"]["si_sdr"])

    groups: dict[str, list[str]] = defaultdict(list)
    for pair, systems in rows.items():
        ref = systems["input"]
        stem, producer = ref["stem"], ref["producer"]
        for key in ("all", producer, stem, f"{producer}:{stem}", input_bin(float(ref["si_sdr"]))):
            groups[key].append(pair)
    print(f"SI-SDR change over the input (dB), `{path}`\n")
    print(
        "| group | n | wiener-mc | default | best of input / wiener-mc / default | "
        "wiener-mc ahead by > 0.5 dB |"
    )
    print("|---|---|---|---|---|---|")
    for key, pairs in groups.items():
        wmc = [gain(p, "wiener-mc") for p in pairs]
        ours = [gain(p, model) for p in pairs]
        best = [max(0.0, w, m) for w, m in zip(wmc, ours, strict=True)]
        ahead = sum(w > m + 0.5 for w, m in zip(wmc, ours, strict=True))
        n = len(pairs)
        print(
            f"| {key} | {n} | {sum(wmc) / n:+.2f} | {sum(ours) / n:+.2f} | "
            f"{sum(best) / n:+.2f} | {ahead} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
