"""Headroom of the canceller as a per-stem candidate: the better (with the reference) of a
``stemprover evaluate`` run's output and the canceller alone (``probe.py``'s json), per input
bin, and how much of it is on stems with bleed.

    python experiments/bleed_canceller/headroom.py /tmp/ev/calib_sm_default \
        experiments/bleed_canceller/results/probe_calib_sm_63_1.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

BINS = ((-np.inf, 5, "<5 dB"), (5, 10, "5-10 dB"), (10, 15, "10-15 dB"), (15, np.inf, ">=15 dB"))


def main() -> None:
    run, probe = Path(sys.argv[1]), Path(sys.argv[2])
    canc = {r["id"]: r for r in json.loads(probe.read_text())}
    rows: dict = {}
    for r in json.loads((run / "metrics.json").read_text())["rows"]:
        rows.setdefault(r["pair_id"], {})[r["system"]] = r
    ids = sorted(rows)
    inp = np.array([rows[p]["input"]["si_sdr"] for p in ids])
    model = np.array([rows[p]["model"]["si_sdr"] for p in ids]) - inp
    best = np.maximum(model, [canc[p]["change"] for p in ids])
    bleed = np.array([canc[p]["bleed"] for p in ids])
    print("| stems | n | output | better of output and canceller |")
    print("|---|---|---|---|")
    groups = [("all", np.ones(len(ids), bool))]
    groups += [(n, (inp >= lo) & (inp < hi)) for lo, hi, n in BINS]
    for name, m in groups:
        a, b = model[m], best[m]
        print(
            f"| {name} | {m.sum()} | {a.mean():+.2f} ({(a < -0.5).sum()} losing) | "
            f"{b.mean():+.2f} ({(b < -0.5).sum()} losing) |"
        )
    gain = best - model
    print(
        f"\nsummed gain: {gain[bleed].sum():.1f} dB on {bleed.sum()} stems with bleed, "
        f"{gain[~bleed].sum():.2f} on {(~bleed).sum()} without; "
        f"{(gain > 0.1).sum()} stems gain > 0.1 dB"
    )


if __name__ == "__main__":
    main()
