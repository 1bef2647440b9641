"""How much the canceller's share ``k`` moves a refiner's output: on the calibration stems with
simulated bleed (song mode, the network alone, first 6 s), the output with and without ``k``
(its head rows zeroed), the SNR of input / ``k = 0`` / output against the reference and the
energy of the difference under the stem's.

    python experiments/bleed_canceller/share_used.py runs/ft_cancel/model
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.run import song_audio
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
    n = 44100 * SECONDS

    def spec(a: np.ndarray) -> torch.Tensor:
        return stft(torch.from_numpy(a[:, :n]).float(), cfg)

    for recs, mix, _, arts, refs in song_audio(ROOT, "valid"):
        x, specs = spec(mix)[None], [spec(a) for a in arts]
        for j, r in enumerate(recs):
            if "bleed" not in r["artifacts"] or r["producer"] != "simulate":
                continue
            s = specs[j][None]
            sibs = torch.stack(specs[:j] + specs[j + 1 :])[None]
            y, y0 = model.run(s, x, sibs), no_k.run(s, x, sibs)
            moved = float((y - y0).abs().pow(2).sum() / s.abs().pow(2).sum())
            ref = refs[j][:, :n]
            out = [snr(ref, istft(z[0], cfg, n).double().numpy()) for z in (s, y0, y)]
            print(
                f"{r['id']:34s} {'+'.join(r['artifacts'])[:28]:28s} input {out[0]:6.2f} "
                f"k=0 {out[1]:6.2f} with k {out[2]:6.2f}  "
                f"k's change {10 * np.log10(moved + 1e-12):6.1f} dB"
            )


if __name__ == "__main__":
    main()
