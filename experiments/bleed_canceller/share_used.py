"""How much the canceller's share ``k`` moves a refiner's output: on the calibration stems with
simulated bleed (song mode, the network alone, first 6 s), the output with and without ``k``
(its head rows zeroed), the SNR of input / ``k = 0`` / output against the reference and the
energy of the difference under the stem's.

    python experiments/bleed_canceller/share_used.py runs/ft_cancel/model
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.stft import istft, stft
from stemprover.models.refiner import RefinerModel

ROOT = Path("data/calib_sm")
SECONDS = 6


def snr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10((ref**2).sum() / ((est - ref) ** 2).sum()))


@torch.no_grad()
def main() -> None:
    model = RefinerModel.load(sys.argv[1])
    no_k = copy.deepcopy(model)
    for head in no_k.net.heads:
        head[2].weight.view(-1, 4, head[2].weight.shape[1])[:, 3] = 0
        head[2].bias.view(-1, 4)[:, 3] = 0
    cfg = model.config.stft
    rows = [json.loads(line) for line in (ROOT / "manifest.jsonl").read_text().splitlines()]
    songs: dict[str, list] = {}
    for r in rows:
        songs.setdefault(r["song"], []).append(r)
    n = 44100 * SECONDS

    def spec(path: str) -> torch.Tensor:
        return stft(torch.from_numpy(io.read(ROOT / path)[0][:, :n]), cfg)

    for r in rows:
        if "bleed" not in r["artifacts"] or r["producer"] != "simulate":
            continue
        ref = io.read(ROOT / r["clean"])[0][:, :n]
        s, x = spec(r["artifacted"])[None], spec(r["mixture"])[None]
        sibs = torch.stack([spec(o["artifacted"]) for o in songs[r["song"]] if o is not r])[None]
        y, y0 = model.run(s, x, sibs), no_k.run(s, x, sibs)
        moved = float((y - y0).abs().pow(2).sum() / s.abs().pow(2).sum())
        out = [snr(ref, istft(z[0], cfg, n).numpy()) for z in (s, y0, y)]
        print(
            f"{r['id']:34s} {'+'.join(r['artifacts'])[:28]:28s} input {out[0]:6.2f} "
            f"k=0 {out[1]:6.2f} with k {out[2]:6.2f}  k's change {10 * np.log10(moved + 1e-12):6.1f} dB"
        )


if __name__ == "__main__":
    main()
