"""Artifact detectors: per type a severity overall, per band and over time.

Every feature is a ratio of the file's own quantities (levels relative to the file's own
percentiles or to a bin's own neighbourhood), so a gain change does not change a verdict.
Scores are mapped to [0, 1] by ``_squash`` around a midpoint; see bench/analyze_auroc.py for
how well they rank affected vs unaffected stems.

Shape:
    stem (and mix): ``(C, T)`` float.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stemprover.audio.bands import BAND_NAMES, band_masks
from stemprover.audio.dsp import smooth_time
from stemprover.audio.stft import ANALYSIS_STFT, stft_np

EPS = 1e-12


@dataclass
class Features:
    """What every detector reads: the spectrogram and the file's own level statistics."""

    spec: np.ndarray  # (C, F, N) complex
    db: np.ndarray  # (C, F, N) level in dB
    active: np.ndarray  # (C, F, N) bool: within 40 dB of the file's 99th percentile
    rate: int
    mix_spec: np.ndarray | None

    @classmethod
    def of(
        cls,
        stem: np.ndarray,
        rate: int,
        mix: np.ndarray | None = None,
        spec: np.ndarray | None = None,
    ) -> Features:
        """``spec``: the stem's ANALYSIS_STFT when the caller already has it."""
        spec = stft_np(stem, ANALYSIS_STFT) if spec is None else spec
        db = 20 * np.log10(np.abs(spec) + EPS)
        top = np.percentile(db, 99)
        mix_spec = None if mix is None else stft_np(mix, ANALYSIS_STFT)
        return cls(spec, db, db > top - 40, rate, mix_spec)


def _squash(x: np.ndarray | float, mid: float, width: float) -> np.ndarray | float:
    return 1 / (1 + np.exp(-(np.asarray(x) - mid) / width))


def _masked_mean(x: np.ndarray, mask: np.ndarray, axis) -> np.ndarray:
    return (x * mask).sum(axis=axis) / np.maximum(mask.sum(axis=axis), 1)


def _incoherent_change(f: Features) -> tuple[np.ndarray, np.ndarray]:
    """Frame-to-frame level change of each bin, and the same minus the median change of the
    12 surrounding bins: a note or a drum hit moves a whole neighbourhood, an artifact one bin.

    Shape: both ``(C, F, N)``.
    """
    from scipy.ndimage import median_filter

    delta = f.db - np.roll(f.db, 1, -1)
    local = median_filter(delta, size=(1, 13, 1), mode="nearest")
    return delta, delta - local


def musical_noise(f: Features) -> np.ndarray:
    """Bins that flare >10 dB above both time neighbours while their neighbourhood does not:
    isolated twinkling peaks. Returns ``(F, N)`` evidence."""
    _, own = _incoherent_change(f)
    back = np.minimum(np.roll(f.db, -1, -1), np.roll(f.db, -2, -1)) < f.db - 10  # gone again
    flare = (own > 10) & back & f.active
    return flare.mean(axis=0).astype(float)


def spectral_holes(f: Features) -> np.ndarray:
    """Bins that fall >20 dB on their own (the neighbourhood holds) and stay down for three
    frames: over-suppressed patches. Returns ``(F, N)`` evidence."""
    _, own = _incoherent_change(f)
    before = np.roll(f.db, 1, -1)
    stays = np.stack([np.roll(f.db, -k, -1) for k in (1, 2, 3)]).max(axis=0) < before - 15
    fall = (own < -20) & stays & np.roll(f.active, 1, -1)
    return fall.mean(axis=0).astype(float)


def transient_smear(f: Features) -> np.ndarray:
    """Level fluctuation of the stem that is missing: with the mixture, 1 − (stem / mixture)
    mean |frame-to-frame change| in bins the stem dominates; alone, 1 − the stem's own
    fluctuation relative to 6 dB per frame. Returns ``(F, N)`` evidence."""
    delta = np.abs(f.db - np.roll(f.db, 1, -1))
    if f.mix_spec is not None:
        mix_db = 20 * np.log10(np.abs(f.mix_spec) + EPS)
        mix_delta = np.abs(mix_db - np.roll(mix_db, 1, -1))
        dominant = f.active & (f.db > mix_db - 3)
        ratio = _masked_mean(delta, dominant, axis=(0, 2)) / (
            _masked_mean(mix_delta, dominant, axis=(0, 2)) + EPS
        )
        ev = np.clip(1 - ratio, 0, 1)[:, None]
        return np.broadcast_to(ev, f.db.shape[1:]).copy()
    fluct = _masked_mean(delta, f.active, axis=0)  # (F, N)
    return np.clip(1 - fluct / 6, 0, 1) * f.active.any(axis=0)


def phasiness(f: Features) -> np.ndarray:
    """Inter-channel phase that wanders from frame to frame in bins both channels carry (a
    mixed stem keeps it steady); in mono, frame-to-frame jumps of the phase advance.
    Returns ``(F, N)`` evidence."""
    spec = f.spec
    both = f.active.all(axis=0)[:, 1:]  # (F, N-1)
    if spec.shape[0] >= 2:
        ipd = np.angle(spec[0] * np.conj(spec[1]))
        wander = np.abs(np.angle(np.exp(1j * np.diff(ipd, axis=-1)))) / np.pi  # (F, N-1)
        return np.pad(np.where(both, wander, 0.0), ((0, 0), (1, 0)))
    n_fft, hop = ANALYSIS_STFT.n_fft, ANALYSIS_STFT.hop
    k = np.arange(spec.shape[-2])[:, None]
    advance = np.angle(spec[0, :, 1:] * np.conj(spec[0, :, :-1])) - 2 * np.pi * k * hop / n_fft
    jump = np.abs(np.angle(np.exp(1j * np.diff(advance, axis=-1)))) / np.pi  # (F, N-2)
    return np.pad(np.where(both[:, 1:], jump, 0.0), ((0, 0), (2, 0)))


def hf_loss(f: Features) -> np.ndarray:
    """A cliff in the long-term spectrum: the largest drop over 500 Hz, in units of 60 dB,
    evidence placed above the cliff. Returns ``(F, N)`` evidence (constant over time)."""
    ltas = 10 * np.log10(np.mean(np.abs(f.spec) ** 2, axis=(0, 2)) + EPS)  # (F,)
    ltas = np.convolve(ltas, np.ones(5) / 5, mode="same")
    hz = f.rate / ANALYSIS_STFT.n_fft
    step = max(1, round(250 / hz))
    drop = np.zeros_like(ltas)
    drop[step:-step] = ltas[: -2 * step] - ltas[2 * step :]
    where = int(np.argmax(drop))
    cliff = np.clip(drop[where] / 60, 0, 1)
    evidence = np.zeros((f.spec.shape[-2], f.spec.shape[-1]))
    evidence[where:] = cliff
    if f.mix_spec is not None:  # the mixture still has energy above the cliff: stronger case
        mix_ltas = 10 * np.log10(np.mean(np.abs(f.mix_spec) ** 2, axis=(0, 2)) + EPS)
        gap = np.clip((mix_ltas[where:] - ltas[where:]).mean() / 40, 0, 1)
        evidence[where:] = np.maximum(evidence[where:], gap * cliff**0.5)
    return evidence


def bleed(f: Features) -> np.ndarray:
    """Energy in the stem that tracks the rest of the mixture.

    With the mixture: correlation over time, per bin, of stem and residual (mixture − stem)
    levels in active bins. Without it: energy in bins that are active but far below the stem's
    own harmonic peaks (a low, broadband floor). Returns ``(F, N)`` evidence.
    """
    if f.mix_spec is not None:
        res_db = 20 * np.log10(np.abs(f.mix_spec - f.spec) + EPS)
        a = f.db - f.db.mean(axis=-1, keepdims=True)
        b = res_db - res_db.mean(axis=-1, keepdims=True)
        corr = (a * b).sum(-1) / (np.sqrt((a**2).sum(-1) * (b**2).sum(-1)) + EPS)  # (C, F)
        ev = np.clip(corr, 0, 1).mean(axis=0)[:, None]
        return np.broadcast_to(ev, f.db.shape[1:]).copy()
    peak = smooth_time(np.max(f.db, axis=0), 9)
    floor = np.percentile(f.db.mean(axis=0), 50, axis=0, keepdims=True)
    return np.clip((floor - (peak - 60)) / 40, 0, 1) * np.ones_like(peak)


DETECTORS: dict[str, tuple[Callable[[Features], np.ndarray], float, float]] = {
    # name: (evidence map, midpoint, width) of the logistic that maps mean evidence to severity
    "bleed": (bleed, 0.3, 0.08),
    "musical_noise": (musical_noise, 0.01, 0.004),
    "phasiness": (phasiness, 0.35, 0.05),
    "hf_loss": (hf_loss, 0.25, 0.08),
    "transient_smear": (transient_smear, 0.05, 0.02),
    "spectral_holes": (spectral_holes, 0.01, 0.004),
}


def analyze_heuristic(stem: np.ndarray, rate: int, mix: np.ndarray | None = None) -> dict:
    """:func:`stemprover.analysis.analyze` with the hand-written detectors."""
    f = Features.of(np.atleast_2d(stem), rate, None if mix is None else np.atleast_2d(mix))
    masks = band_masks(ANALYSIS_STFT.n_fft, rate)
    frames_per_s = max(1, round(rate / ANALYSIS_STFT.hop))
    out = {}
    for name, (detector, mid, width) in DETECTORS.items():
        ev = detector(f)  # (F, N)
        overall = float(ev.mean())
        per_band = {
            b: float(_squash(ev[m].mean(), mid, width))
            for b, m in zip(BAND_NAMES, masks, strict=True)
            if m.any()
        }
        n = ev.shape[-1] // frames_per_s
        per_time = [
            float(_squash(ev[:, i * frames_per_s : (i + 1) * frames_per_s].mean(), mid, width))
            for i in range(n)
        ]
        out[name] = {
            "score": float(_squash(overall, mid, width)),
            "evidence": overall,
            "bands": per_band,
            "time": per_time,
        }
    return out
