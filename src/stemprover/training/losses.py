"""Training losses: multi-resolution complex STFT, band-weighted phase coherence and the
floored log-mel distance (what the bleedless and fullness measures count)."""

from __future__ import annotations

import torch

from stemprover.audio.bands import bin_weights
from stemprover.audio.mel import measure_filterbank
from stemprover.audio.stft import StftConfig, stft


def mrstft_loss(est: torch.Tensor, ref: torch.Tensor, ffts: tuple[int, ...]) -> torch.Tensor:
    """Spectral convergence + log magnitude + complex L1, averaged over resolutions.

    After Yamamoto et al. 2020 (Parallel WaveGAN, eq. 4-6), with a complex term so that phase
    errors are penalised too. Shape: ``(B, T)`` each -> scalar.
    """
    total = est.new_zeros(())
    for n_fft in ffts:
        cfg = StftConfig(n_fft=n_fft, hop=n_fft // 4, compress=1.0)
        e, r = stft(est, cfg), stft(ref, cfg)  # (B, F, N)
        e_mag, r_mag = e.abs() + 1e-7, r.abs() + 1e-7
        sc = torch.linalg.norm(r_mag - e_mag) / (torch.linalg.norm(r_mag) + 1e-7)
        log_mag = (e_mag.log() - r_mag.log()).abs().mean()
        complex_l1 = (e - r).abs().mean() / (r_mag.mean() + 1e-7)
        total = total + sc + log_mag + complex_l1
    return total / len(ffts)


def phase_coherence_loss(
    est: torch.Tensor, ref: torch.Tensor, cfg: StftConfig, rate: int
) -> torch.Tensor:
    """1 − magnitude-weighted cos(φ_ref − φ_est), weighted per bin by the band table.

    Shape: ``(B, F, N)`` complex each -> scalar in [0, 2].
    """
    weights = torch.as_tensor(bin_weights(cfg.n_fft, rate), dtype=ref.real.dtype, device=ref.device)
    w = ref.abs() * est.abs()  # (B, F, N)
    cos = torch.real(ref * est.conj()) / (w + 1e-8)
    per_bin = (w * cos).sum(dim=(0, 2)) / (w.sum(dim=(0, 2)) + 1e-8)  # (F,)
    return 1 - (weights * per_bin).sum() / weights.sum()


def si_sdr_loss(
    est: torch.Tensor,
    ref: torch.Tensor,
    silent_db: float = -60.0,
    max_db: float | None = None,
    scale_invariant: bool = True,
) -> torch.Tensor:
    """Mean negative SI-SDR in dB over the batch items whose reference is not silent.

    With ``scale_invariant=False`` it is the negative SNR instead: the target is the reference
    itself, so a wrong output level costs as much as any other error. SI-SDR alone leaves the
    level free, and a model trained with it beside the latent MSE learned a global gain of
    about 0.63 (the MSE on the compressed spectrum is lower for it), which SI-SDR does not see
    and every level-aware metric (mel-SNR, fullness) does.

    Crops whose reference RMS is below ``silent_db`` dBFS have no defined SI-SDR and are left
    out (zero loss when all are). ``max_db`` soft-caps each item's SI-SDR ("thresholded SNR",
    Wisdom et al. 2020): the error energy gets ``10^(-max_db/10)`` of the target's added, so
    a nearly clean crop, whose dB gradient is huge, no longer outweighs the rest of the batch.
    Shape: ``(B, T)`` each -> scalar.
    """
    energy = (ref**2).sum(-1)  # (B,)
    keep = energy > ref.shape[-1] * 10 ** (silent_db / 10)
    if not keep.any():
        return est.new_zeros(())
    est, ref, energy = est[keep], ref[keep], energy[keep]
    alpha = (est * ref).sum(-1) / energy if scale_invariant else torch.ones_like(energy)
    target = alpha[:, None] * ref
    signal = (target**2).sum(-1)
    floor = 0.0 if max_db is None else signal * 10 ** (-max_db / 10)
    ratio = signal / (((target - est) ** 2).sum(-1) + floor).clamp_min(1e-10)
    return -10 * torch.log10(ratio.clamp_min(1e-10)).mean()


def mel_db_loss(
    est: torch.Tensor, ref: torch.Tensor, n_fft: int, rate: int, range_db: float = 80.0
) -> torch.Tensor:
    """Mean absolute log-mel difference in tens of dB, both floored ``range_db`` under the
    reference's peak (per item): the sum of what ``evaluation.metrics.bleed_and_fullness``
    counts as bleed (energy above the reference) and as missing (below it). The SNR and STFT
    terms weigh a bin by its energy, so they let a mask empty quiet detail; this term weighs
    every audible mel cell alike.

    Shape: ``(B, F, N)`` complex each (``F = n_fft // 2 + 1``) -> scalar.
    """
    fb = torch.from_numpy(measure_filterbank(rate, n_fft)).to(est.real.dtype)
    e = 20 * torch.log10(torch.einsum("mf,bfn->bmn", fb, est.abs()) + 1e-8)
    r = 20 * torch.log10(torch.einsum("mf,bfn->bmn", fb, ref.abs()) + 1e-8)
    floor = r.amax(dim=(1, 2), keepdim=True) - range_db
    return (torch.maximum(e, floor) - torch.maximum(r, floor)).abs().mean() / 10


def level_db_loss(est: torch.Tensor, ref: torch.Tensor, floor_db: float = 30.0) -> torch.Tensor:
    """Mean absolute output level error in tens of dB, ``|10·log10(Σ est² / Σ ref²)|`` per
    item (``evaluation.metrics.level_db`` on each crop). An SNR loss's optimum is a shrunk
    estimate (below the reference's level wherever the stem is uncertain) and SI-SDR does
    not see the level; this term asks for the reference's.

    The output's energy is floored ``floor_db`` under the reference's, so a near-silent output
    costs at most ``floor_db`` and its gradient stays bounded (unfloored, a ``train.level=3``
    run went to NaN at step 320, session 37). Shape: ``(B, T)`` each -> scalar.
    """
    r = (ref**2).sum(-1).clamp_min(1e-10)
    floor = r * 10 ** (-floor_db / 10)  # on both sides: an exact level still costs 0
    return (10 * torch.log10(((est**2).sum(-1) + floor) / (r + floor))).abs().mean() / 10
