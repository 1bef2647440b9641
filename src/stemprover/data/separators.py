"""Separation producers: degraded ratio masks applied to the mixture, and external separators.

Unlike the simulators, these separate the *mixture*, so the artifacts are the real products of
masking: the mixture's phase is reused, smoothed masks smear, noisy masks twinkle.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemprover.audio.dsp import smooth_time
from stemprover.audio.stft import ANALYSIS_STFT, istft_np, stft_np
from stemprover.errors import StemProverError


@dataclass(frozen=True)
class MaskDegradation:
    """How far a ratio mask falls short of the ideal one; each knob in [0, 1]."""

    smoothing: float  # -> transient_smear
    low_resolution: float  # -> spectral_holes (coarse frequency grid)
    floor: float  # -> bleed
    noise: float  # -> musical_noise
    band_limit: float  # -> hf_loss
    over_suppression: float  # -> spectral_holes

    @classmethod
    def draw(cls, rng: np.random.Generator) -> MaskDegradation:
        # Each knob is off half the time, so pairs differ in which artifacts dominate.
        def knob() -> float:
            return float(rng.uniform(0.1, 1.0)) if rng.random() < 0.5 else 0.0

        return cls(knob(), knob(), knob(), knob(), knob(), knob())

    def artifacts(self) -> dict[str, float]:
        """The manifest's artifact severities; mixture phase always brings some phasiness."""
        sev = {
            "transient_smear": self.smoothing,
            "spectral_holes": max(self.low_resolution, self.over_suppression),
            "bleed": self.floor,
            "musical_noise": self.noise,
            "hf_loss": self.band_limit,
        }
        out = {k: round(v, 4) for k, v in sev.items() if v > 0}
        out["phasiness"] = round(0.3 + 0.4 * self.floor, 4)
        return out


def mask_separate(
    clean: np.ndarray, mixture: np.ndarray, rate: int, deg: MaskDegradation, seed: int
) -> np.ndarray:
    """Separate ``clean`` from ``mixture`` with a degraded ideal ratio mask.

    Shape:
        clean, mixture: ``(C, T)`` -> ``(C, T)``.
    """
    rng = np.random.default_rng([seed, 7])
    s, x = stft_np(clean), stft_np(mixture)
    o = x - s
    mask = np.abs(s) ** 2 / (np.abs(s) ** 2 + np.abs(o) ** 2 + 1e-10)  # (C, F, N)
    if deg.low_resolution:
        group = 1 + round(deg.low_resolution * 15)
        bins = mask.shape[-2]
        pad = (-bins) % group
        padded = np.pad(mask, [(0, 0), (0, pad), (0, 0)], mode="edge")
        coarse = padded.reshape(mask.shape[0], -1, group, mask.shape[-1]).mean(axis=2)
        mask = np.repeat(coarse, group, axis=1)[:, :bins]
    if deg.smoothing:
        mask = smooth_time(mask, 1 + round(deg.smoothing * 12))
    if deg.noise:
        mask = mask * np.exp(deg.noise * 1.2 * rng.standard_normal(mask.shape))
    if deg.over_suppression:
        mask = mask ** (1 + 3 * deg.over_suppression)
    if deg.floor:
        mask = deg.floor * 0.35 + (1 - deg.floor * 0.35) * mask
    if deg.band_limit:
        cutoff = 19000 * (3000 / 19000) ** deg.band_limit
        freqs = np.fft.rfftfreq(ANALYSIS_STFT.n_fft, 1 / rate)
        mask = mask * (freqs < cutoff)[:, None]
    return istft_np(np.clip(mask, 0, 1) * x, clean.shape[-1])


EXTERNAL = {
    "demucs": ("demucs", "pip install demucs; weights in ~/.cache/torch/hub/checkpoints"),
    "openunmix": ("openunmix", "pip install openunmix; weights in ~/.cache/torch/hub/checkpoints"),
    "audio-separator": (
        "audio_separator",
        "pip install audio-separator; models in /tmp/audio-separator-models",
    ),
}


def check_external(name: str, weights: Path | None = None) -> None:
    """Refuse clearly when an external separator or its weights are not on this machine.

    This machine cannot download weights, so weights must already be on disk.
    """
    if name not in EXTERNAL:
        raise StemProverError(f"unknown external separator {name!r}; known: {', '.join(EXTERNAL)}")
    module, hint = EXTERNAL[name]
    if importlib.util.find_spec(module) is None:
        raise StemProverError(f"external separator {name!r} is not installed ({hint})")
    if weights is None or not Path(weights).exists():
        raise StemProverError(
            f"external separator {name!r} needs its weights on disk (pass --weights PATH; {hint}); "
            "StemProver never downloads weights"
        )
    raise StemProverError(
        f"external separator {name!r} is installed, but running it is not wired up yet"
    )
