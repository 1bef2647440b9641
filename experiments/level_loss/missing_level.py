"""Where the default's missing level lies, bin by bin (session 37): each stem of a pairs
folder's valid songs through song mode (whole songs, one STFT), its output's energy against
its reference's, split by the stem's true share of each bin (``|R_j|² / Σ_k |R_k|²``).

    PYTHONPATH=experiments/song_trust python experiments/level_loss/missing_level.py \
      data/calib_sm --songs 12

Per share group: the reference's energy there (share of the stem's total) and the output's
energy minus the reference's (same unit; their sum over groups is the stem's energy ratio −
1). Means over stems; the level (dB) as ``evaluation.metrics.level_db`` measures it.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from bleed_stages import cli, load_model, valid_songs

from stemprover.audio.stft import stft

EDGES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.01)


def true_share(song) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference stems' power per bin and each stem's share of the bins' total:
    ``(J, C, F, N)`` each, in the model's STFT."""
    pr = torch.stack([stft(torch.from_numpy(x), song.cfg) for x in song.refs]).abs().pow(2)
    return pr, pr / pr.sum(0, keepdim=True).clamp_min(1e-20)


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    ref_share, levels = [], []
    diff = {"output": [], "level step": [], "input": [], "mixture": []}
    for song in valid_songs(model, a.pairs, a.songs):
        names = [r["stem"] for r in song.recs]
        with torch.no_grad():
            y, gate, p = model.song_parts(song.s, song.x, "trust")
            t = model.song_trust(song.s, song.x, y, gate, p, names)
        pr, share = true_share(song)
        outs = {"output": t, "level step": y, "input": song.s, "mixture": song.x.expand_as(t)}
        for j in range(len(names)):
            total = float(pr[j].sum())
            if total <= 0:
                continue
            groups = [(share[j] >= lo) & (share[j] < hi) for lo, hi in pairwise(EDGES)]
            ref_share.append([float(pr[j][g].sum()) / total for g in groups])
            for key, z in outs.items():
                pz = z[j].abs().pow(2)
                diff[key].append([float((pz[g] - pr[j][g]).sum()) / total for g in groups])
            levels.append(10 * np.log10(float(t[j].abs().pow(2).sum()) / total))
    ref_share = np.array(ref_share)
    d = {k: np.array(v) for k, v in diff.items()}
    print(f"{len(levels)} stems; level {np.mean(levels):+.2f} dB (median {np.median(levels):+.2f})")
    print(
        "| stem's true share of the bin | reference energy | "
        + " | ".join(f"{k} − reference" for k in d)
        + " |"
    )
    print("|---" * (2 + len(d)) + "|")
    for k, (lo, hi) in enumerate(pairwise(EDGES)):
        cells = " | ".join(f"{v[:, k].mean():+.3f}" for v in d.values())
        print(f"| {lo:.2f}–{min(hi, 1.0):.2f} | {ref_share[:, k].mean():.3f} | {cells} |")
    cells = " | ".join(f"{v.sum(1).mean():+.3f}" for v in d.values())
    print(f"| all | {ref_share.sum(1).mean():.3f} | {cells} |")


if __name__ == "__main__":
    main()
