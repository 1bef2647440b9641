"""The classical bleed canceller alone, no training: each stem replaced by ``S − β·R``
(``R = X − S``, ``β`` the windowed least-squares coefficient of
:func:`stemprover.audio.canceller.bleed_canceller`, here with the window and cap given), SI-SDR
change over the input per stem, by producer and artifact group.

    python experiments/bleed_canceller/probe.py data/calib_sm --frames 63 --cap 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.canceller import bleed_canceller
from stemprover.audio.stft import istft, stft
from stemprover.config import RefinerConfig
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr

GROUPS = {
    "simulated bleed alone": lambda r: r["producer"] == "simulate" and r["arts"] == "bleed",
    "simulated bleed + others": lambda r: (
        r["producer"] == "simulate" and r["bleed"] and r["arts"] != "bleed"
    ),
    "simulate, no bleed": lambda r: r["producer"] == "simulate" and not r["bleed"],
    "mask": lambda r: r["producer"] == "mask",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--frames", type=int, default=63)
    ap.add_argument("--cap", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    a = ap.parse_args()
    cfg = RefinerConfig().stft
    rows = []
    for p in read_manifest(a.pairs):
        s, x, ref = (io.read(a.pairs / p[k])[0] for k in ("artifacted", "mixture", "clean"))
        S, X = stft(torch.from_numpy(s), cfg), stft(torch.from_numpy(x), cfg)
        beta, rho = bleed_canceller(S, X, a.frames)
        beta = beta * torch.clamp(a.cap / beta.abs().clamp_min(1e-12), max=1.0)
        y = istft(S - beta * (X - S), cfg, s.shape[-1]).numpy()
        w = S.abs() ** 2
        rows.append(
            {
                "id": p["id"],
                "producer": p["producer"],
                "bleed": "bleed" in p["artifacts"],
                "arts": "+".join(p["artifacts"]),
                "input": si_sdr(ref, s),
                "change": si_sdr(ref, y) - si_sdr(ref, s),
                "rho": float((rho * w).sum() / w.sum()),  # energy-weighted coherence
            }
        )
    a.out.mkdir(parents=True, exist_ok=True)
    name = f"probe_{a.pairs.name}_{a.frames}_{a.cap:g}"
    (a.out / f"{name}.json").write_text(json.dumps(rows, indent=0) + "\n")
    lines = [
        f"# {name}",
        "",
        "| stems | n | mean change | min | max | mean coherence |",
        "|---|---|---|---|---|---|",
    ]
    for g, f in GROUPS.items():
        d = np.array([r["change"] for r in rows if f(r)])
        c = np.array([r["rho"] for r in rows if f(r)])
        lines.append(
            f"| {g} | {len(d)} | {d.mean():+.2f} | {d.min():+.2f} | {d.max():+.2f} | {c.mean():.2f} |"
        )
    (a.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
