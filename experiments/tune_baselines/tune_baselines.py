"""Grid search of the classical baselines' settings on a pairs folder (not the test set).

    python experiments/tune_baselines/tune_baselines.py PAIRS_DIR [--pairs 16]

Prints mean and worst SI-SDR improvement over the input for each setting; the chosen values
are fixed in src/stemprover/evaluation/baselines.py.
"""

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.evaluation.baselines import Inputs, oracle, spectral_gate, wiener
from stemprover.evaluation.metrics import si_sdr


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("pairs", type=Path)
    p.add_argument("--pairs", dest="count", type=int, default=16)
    args = p.parse_args()
    recs = [json.loads(line) for line in (args.pairs / "manifest.jsonl").read_text().splitlines()]
    data = []
    for r in recs[: args.count]:

        def load(key, r=r):
            return io.read(args.pairs / r[key], "float64")[0]

        data.append(Inputs(load("artifacted"), load("mixture"), load("clean"), r["sample_rate"]))
    base = np.array([si_sdr(x.reference, x.artifacted) for x in data])

    def report(name, fn):
        gain = np.array([si_sdr(x.reference, fn(x)) for x in data]) - base
        print(
            f"{name:28s} mean {gain.mean():+6.2f}  median {np.median(gain):+6.2f}  worst {gain.min():+7.2f}"
        )

    report("oracle", oracle)
    for beta, floor in itertools.product([0.02, 0.05, 0.1, 0.3], [-3, -6, -10]):
        report(f"wiener beta={beta} floor={floor}", lambda x, b=beta, f=floor: wiener(x, b, f))
    for prop in [0.1, 0.25, 0.5]:
        report(f"spectral-gate prop={prop}", lambda x, q=prop: spectral_gate(x, q))


if __name__ == "__main__":
    main()
