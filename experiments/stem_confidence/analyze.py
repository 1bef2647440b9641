"""How far should each stem go from its input towards the refiner's output? Reads the JSON
lines of collect.py; reports the oracle per-stem blend (headroom) and a blend weight
``α = clip(a + b·f)`` or ``σ(θ·f)`` fitted on one set of songs and scored on another (or
cross-validated by song).

    python experiments/stem_confidence/analyze.py /tmp/conf_calib.jsonl --test /tmp/conf_valid.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from collect import ALPHAS
from scipy.optimize import minimize

from stemprover.evaluation.run import input_bin


def load(path: str) -> list[dict]:
    """collect.py's JSON lines."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def matrix(rows: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[r["f"][n] for n in names] for r in rows], dtype=float)


def gain_at(rows: list[dict], alpha: np.ndarray) -> np.ndarray:
    return np.array([np.interp(a, ALPHAS, r["gains"]) for r, a in zip(rows, alpha, strict=True)])


def predict(theta: np.ndarray, f: np.ndarray, top: float) -> np.ndarray:
    return top / (1 + np.exp(-(theta[0] + f @ theta[1:])))


def fit(rows, names, top=1.0, l2=1e-2, harm=0.0):
    f = matrix(rows, names)
    mu, sd = f.mean(0), f.std(0) + 1e-9
    z = (f - mu) / sd
    curves = np.array([r["gains"] for r in rows])

    def loss(theta):
        a = predict(theta, z, top)
        g = np.array([np.interp(ai, ALPHAS, c) for ai, c in zip(a, curves, strict=True)])
        return -g.mean() + harm * np.mean(np.maximum(-g - 0.5, 0)) + l2 * np.sum(theta[1:] ** 2)

    best = None
    for start in (0.0, 2.0, -2.0):
        t0 = np.zeros(len(names) + 1)
        t0[0] = start
        r = minimize(loss, t0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4})
        if best is None or r.fun < best.fun:
            best = r
    return best.x, mu, sd


def report(rows, gains: dict[str, np.ndarray]) -> None:
    groups = defaultdict(list)
    for i, r in enumerate(rows):
        for k in ("all", input_bin(r["input"]), r["stem"], r["producer"]):
            groups[k].append(i)
    names = list(gains)
    print("| group | n | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    for k, idx in groups.items():
        cells = []
        for n in names:
            g = gains[n][idx]
            cells.append(f"{g.mean():+.2f} ({np.mean(g < -0.5):.0%})")
        print(f"| {k} | {len(idx)} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("--test")
    ap.add_argument("--features", default="change,gate,share,left_vs_stem,wmc_change")
    ap.add_argument("--top", type=float, default=1.0)
    ap.add_argument("--harm", type=float, default=0.0)
    args = ap.parse_args()
    names = args.features.split(",")
    train = load(args.train)
    test = load(args.test) if args.test else train
    theta, mu, sd = fit(train, names, args.top, harm=args.harm)
    print("features:", names)
    print("theta:", np.round(theta, 3).tolist())
    a = predict(theta, (matrix(test, names) - mu) / sd, args.top)
    curves = np.array([r["gains"] for r in test])
    ok = ALPHAS <= 1.0
    gains = {
        "shipped": curves[:, ALPHAS == 1.0][:, 0],
        "fitted α": gain_at(test, a),
        "oracle α≤1": curves[:, ok].max(1),
        "wiener-mc": np.array([r["wmc"] for r in test]),
    }
    print(f"α: mean {a.mean():.2f}, min {a.min():.2f}, max {a.max():.2f}")
    report(test, gains)
    f = matrix(test, names)
    best = ALPHAS[ok][curves[:, ok].argmax(1)]
    print("\ncorrelation with the oracle α:")
    for n, col in zip(names, f.T, strict=True):
        print(f"  {n}: {np.corrcoef(col, best)[0, 1]:+.2f}")


if __name__ == "__main__":
    main()
