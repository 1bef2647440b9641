"""Where the shipped quality estimate goes wrong, and which reference-free statistics explain
it (session 30). Per stem of a pairs folder's songs: the song's pooled estimate as song mode
makes it (4 s segments, ``pooled_quality``), the true input SI-SDR, and candidate statistics
the quality maps do not hold, energy-weighted over the stem's bins:

- ``rho``: the bleed canceller's coherence of the stem with the rest of the mixture
  (``bleed_canceller``, 63 frames);
- ``sib``: the largest windowed coherence of the stem with one of its siblings (the same
  estimator, the sibling in place of the rest);
- ``excess``: how far the stems' summed power exceeds the mixture's (dB, where they sum to
  more: duplicated content, as bleed is).

Prints the estimate's error by input bin, and the correlation of each statistic with the
error (true − estimate) over all stems and over stems at 10 dB or more.

    python experiments/song_trust/quality_error.py data/calib_sm --split valid
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.canceller import bleed_canceller
from stemprover.audio.stft import StftConfig, stft
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import INPUT_BINS, input_bin, song_audio
from stemprover.models.trust import SongTrust, pooled_quality, stem_type


def weighted(v: torch.Tensor, w: torch.Tensor) -> float:
    return float((v * w).sum() / (w.sum() + 1e-20))


def stats(s: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """``(J, 3)``: rho, sib, excess per stem of ``s`` ``(J, C, F, N)`` and ``x``."""
    J = len(s)
    power = s.abs().pow(2)
    rho = bleed_canceller(s, x)[1]
    px = x.abs().pow(2)
    over = (power.sum(0) / (px + 1e-12)).clamp(min=1.0)
    out = []
    for j in range(J):
        w = power[j]
        sib = 0.0
        for k in range(J):
            if k != j:
                r = bleed_canceller(s[j], s[j] + s[k])[1]  # the sibling as "the rest"
                sib = max(sib, weighted(r, w))
        out.append([weighted(rho[j], w), sib, 10 * np.log10(weighted(over, w))])
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--trust", default="src/stemprover/weights/default/trust")
    a = ap.parse_args()
    trust = SongTrust.load(a.trust)
    c = trust.config
    cfg = StftConfig(c.n_fft, c.hop, compress=1.0)
    seg = round(4.0 * c.sample_rate / c.hop)
    est, true, feats, names = [], [], [], []
    with torch.no_grad():
        for recs, mix, _, arts, refs in song_audio(a.pairs, a.split):
            s = torch.stack([stft(torch.from_numpy(z), cfg) for z in arts]).to(torch.complex64)
            x = stft(torch.from_numpy(mix), cfg).to(torch.complex64)
            kinds = torch.tensor([stem_type(r["stem"]) for r in recs])
            found = [
                trust.segment_estimate(s[..., lo : lo + seg], x[..., lo : lo + seg], kinds)
                for lo in range(0, s.shape[-1], seg)
            ]
            est += pooled_quality(*zip(*found, strict=True)).tolist()
            true += [si_sdr(r, z) for r, z in zip(refs, arts, strict=True)]
            feats.append(stats(s, x))
            names += [f"{r['id']} ({'+'.join(r.get('artifacts') or [])})" for r in recs]
    est, true, feats = np.array(est), np.array(true), np.concatenate(feats)
    err = true - est
    print(f"{len(true)} stems; estimate error (true - estimate), mean / rms:")
    bins = np.array([input_bin(v) for v in true])
    for _, b in INPUT_BINS:
        m = bins == b
        print(
            f"  {b:6s} n={m.sum():3d}  {err[m].mean():+6.2f} / {np.sqrt((err[m] ** 2).mean()):5.2f}"
        )
    for label, m in (("all", true > -99), (">=10 dB", true >= 10)):
        cors = [np.corrcoef(feats[m, i], err[m])[0, 1] for i in range(3)]
        cort = [np.corrcoef(feats[m, i], true[m])[0, 1] for i in range(3)]
        print(
            f"  {label:8s} corr with error rho / sib / excess: "
            + " / ".join(f"{v:+.2f}" for v in cors)
            + "; with true SI-SDR: "
            + " / ".join(f"{v:+.2f}" for v in cort)
        )
    print("  stems with bleed at 5 dB or more, and the largest under-estimates:")
    bleed = [i for i in np.argsort(true) if "bleed" in names[i] and true[i] >= 5]
    for i in bleed + [i for i in np.argsort(-err)[:5] if i not in bleed]:
        f = feats[i]
        print(
            f"    {names[i]:62s} true {true[i]:6.2f} est {est[i]:6.2f} "
            f"rho {f[0]:.2f} sib {f[1]:.2f} excess {f[2]:.2f}"
        )


if __name__ == "__main__":
    main()
