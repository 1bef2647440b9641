"""Can the blend tell a stem with bleed? (session 27)

Good stems with simulated bleed are the commonest losers on every set (calibration, time
domain: stems >= 10 dB with bleed +0.01, 2 of 10 losing > 0.5 dB; without bleed +0.97;
``bleed_stages.py``), and nothing the blend reads says "bleed". The hand-written detector's
bleed evidence with the mixture (``analysis.detectors.bleed``: per bin, the correlation over
time of the stem's level with the rest of the mixture's) separates them: AUROC 0.88 over the
33 calibration stems >= 10 dB (0.87 over all 160). Here both blend networks are retrained in
the exact proxy with it as two more features per row (per band, and over the segment),
against the same networks without them.

    python experiments/song_trust/bleed_feature.py --cache runs/trust/cache \
        --trust src/stemprover/weights/default/trust     # ~4 min of features, then the proxy

The features are computed from the pairs folders (``data/<folder>``), segment by segment as
``training.trust.collect_blend`` cuts them, and cached beside the blend statistics
(``bleed-<folder>-<split>.npz``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from more_songs import cli, widened

from stemprover.audio.stft import StftConfig, stft
from stemprover.evaluation.run import song_audio
from stemprover.models.trust import SongTrust
from stemprover.training.trust import BlendStats, TrustTrainConfig

EPS = 1e-12


def bleed_evidence(s: torch.Tensor, x: torch.Tensor, ranges) -> torch.Tensor:
    """Per stem and band, the detector's bleed evidence: the correlation over frames of each
    bin's level (dB) in the stem and in the rest of the mixture, clipped at 0, averaged over
    channels and the band's bins; and its mean over all bins. Shape: s ``(J, C, F, N)``,
    x ``(C, F, N)`` -> ``(J, B, 2)``."""
    a = 20 * torch.log10(s.abs() + EPS)
    b = 20 * torch.log10((x[None] - s).abs() + EPS)
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    corr = (a * b).sum(-1) / ((a.square().sum(-1) * b.square().sum(-1)).sqrt() + EPS)
    ev = corr.clamp(0, 1).mean(1)  # (J, F)
    per_band = torch.stack([ev[:, lo:hi].mean(-1) for lo, hi in ranges], -1)
    return torch.stack([per_band, ev.mean(-1, keepdim=True).expand_as(per_band)], -1)


def collect(folder: Path, split: str, layer: SongTrust, out: Path) -> Path:
    """The features of every row of ``folder``'s blend statistics (same songs, STFT,
    segments and order as ``training.trust.collect_blend``), to ``out``."""
    cfg = StftConfig(n_fft=layer.config.n_fft, hop=layer.config.hop)
    seconds = TrustTrainConfig().segment_seconds

    def spectra(arrays) -> torch.Tensor:
        return torch.stack([stft(torch.from_numpy(a), cfg) for a in arrays]).to(torch.complex64)

    rows = []
    for _recs, mix, rate, arts, _refs in song_audio(folder, split):
        seg = max(1, round(seconds * rate / cfg.hop))
        s_all, x_all = spectra(arts), spectra([mix])[0]
        for lo in range(0, s_all.shape[-1], seg):
            s, x = s_all[..., lo : lo + seg], x_all[..., lo : lo + seg]
            rows.append(bleed_evidence(s, x, layer.ranges))
    np.save(out, torch.cat(rows).numpy())
    return out


def with_bleed(st: BlendStats, names: list[str], cache: Path, data: Path, layer) -> BlendStats:
    """``st`` (the statistics of ``names``) with the bleed features appended to each row."""
    parts = []
    for name in names:
        folder, split = name.rsplit("-", 1)
        path = cache / f"bleed-{folder}-{split}.npy"
        if not path.exists():
            collect(data / folder, split, layer, path)
        parts.append(np.load(path))
    extra = torch.from_numpy(np.concatenate(parts)).to(st.feats.dtype)
    if extra.shape[:2] != st.feats.shape[:2]:
        raise SystemExit(f"{names}: {tuple(extra.shape)} rows vs {tuple(st.feats.shape)}")
    st.feats = torch.cat([st.feats, extra], -1)
    return st


def main() -> None:
    a = cli(__doc__)
    layer = SongTrust.load(a.trust)
    widened(
        a,
        lambda st, names: with_bleed(st, names, a.cache, Path("data"), layer),
        ("without (shipped)", "+ bleed evidence"),
    )


if __name__ == "__main__":
    main()
