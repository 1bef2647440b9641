"""Parametric simulators of separation artifacts: pure functions, seeded, severity in [0, 1].

Each simulator takes the clean stem, the rest of the mixture (``others``), the rate, a severity
and a random generator, and returns the artifacted stem; each models the cause listed in
SPEC.md. They work on the shared analysis STFT (``ANALYSIS_STFT``: 2048 points, 46 ms at 44.1 kHz).

Shape:
    clean, others: ``(C, T)`` float64 -> ``(C, T)`` float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stemprover.audio.dsp import smooth_time
from stemprover.audio.stft import ANALYSIS_STFT, istft_np, stft_np
from stemprover.vocabulary import ARTIFACTS, ArtifactName

EPS = 1e-10


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + EPS)


def _residual_source(clean: np.ndarray, others: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What leaks: the other instruments, or noise shaped like the stem when there are none."""
    if _rms(others) > 1e-6:
        return others
    noise = rng.standard_normal(clean.shape)
    shape = np.abs(np.fft.rfft(clean, axis=-1))
    shaped = np.fft.irfft(np.fft.rfft(noise, axis=-1) * smooth_time(shape, 64), n=clean.shape[-1])
    return shaped * _rms(clean) / _rms(shaped)


def bleed(clean, others, rate, severity, rng):
    """Other instruments leak where the stem's mask is open (mask passes their energy).

    Leak level relative to the stem: -30 dB at severity 0 to 0 dB at severity 1.
    """
    s, o = stft_np(clean), stft_np(_residual_source(clean, others, rng))
    mask = np.abs(s) / (np.abs(s) + np.abs(o) + EPS)
    leak = istft_np(np.sqrt(mask) * o, clean.shape[-1])
    gain_db = -30 + 30 * severity
    return clean + leak * (_rms(clean) / _rms(leak)) * 10 ** (gain_db / 20)


def musical_noise(clean, others, rate, severity, rng):
    """Isolated short-lived spectral peaks, as left by noisy mask estimates."""
    s, o = stft_np(clean), stft_np(_residual_source(clean, others, rng))
    density = 0.01 + 0.07 * severity
    peaks = rng.random(s.shape) < density
    # Peaks last one to three frames: twinkling, not sustained tones.
    peaks |= np.roll(peaks, 1, axis=-1) & (rng.random(s.shape) < 0.5)
    carrier = np.maximum(np.abs(o), np.abs(s)) * np.exp(1j * rng.uniform(-np.pi, np.pi, s.shape))
    noise = istft_np(peaks * carrier, clean.shape[-1])
    gain_db = -30 + 24 * severity
    # The same noisy mask also dents the stem itself.
    dents = np.clip(1 - severity * 0.6 * (rng.random(s.shape) < density * 2), 0, 1)
    return istft_np(s * dents, clean.shape[-1]) + noise * (_rms(clean) / _rms(noise)) * 10 ** (
        gain_db / 20
    )


def phasiness(clean, others, rate, severity, rng):
    """Mixture phase reused where the stem does not dominate, and per-channel phase errors.

    The phase is pulled towards the mixture's and jittered by noise that is smooth in time but
    differs between channels: hollow, smeared, "underwater" stereo.
    """
    s, mix = stft_np(clean), stft_np(clean + others)
    diff = np.angle(mix * np.conj(s))
    jitter = smooth_time(rng.standard_normal(s.shape), 5) * np.sqrt(5)
    phase = np.angle(s) + severity * diff + severity * (np.pi / 2.5) * jitter
    return istft_np(np.abs(s) * np.exp(1j * phase), clean.shape[-1])


def hf_loss_cutoff(severity: float, rate: int) -> float:
    """:func:`hf_loss`'s cutoff in Hz: ~19 kHz at severity 0 down to ~3 kHz at 1."""
    return min(0.95 * rate / 2, 19000 * (3000 / 19000) ** severity)


def hf_loss(clean, others, rate, severity, rng):
    """A band-limited separator: steep low-pass from ~19 kHz (severity 0) to ~3 kHz (1)."""
    s = stft_np(clean)
    cutoff = hf_loss_cutoff(severity, rate)
    freqs = np.fft.rfftfreq(ANALYSIS_STFT.n_fft, 1 / rate)
    gain = 1 / (1 + np.exp((freqs - cutoff) / 60.0))  # ~250 Hz transition
    return istft_np(s * gain[:, None], clean.shape[-1])


def transient_smear(clean, others, rate, severity, rng):
    """Magnitude smoothed over time (time-smoothed masks, long windows), phase kept."""
    s = stft_np(clean)
    frames = 1 + round(severity * 16)  # up to ~200 ms at hop 512, 44.1 kHz
    mag = smooth_time(np.abs(s), frames)
    return istft_np(mag * np.exp(1j * np.angle(s)), clean.shape[-1])


def spectral_holes(clean, others, rate, severity, rng):
    """Over-suppression: random time-frequency patches pushed down to -30 dB."""
    s = stft_np(clean)
    bins, frames = s.shape[-2:]
    gain = np.ones(s.shape[-2:])
    coverage = 0.03 + 0.3 * severity
    while (gain < 1).mean() < coverage:
        f0, t0 = rng.integers(bins), rng.integers(frames)
        gain[f0 : f0 + rng.integers(1, 9), t0 : t0 + rng.integers(4, 40)] = 10 ** (-30 / 20)
    return istft_np(s * gain, clean.shape[-1])


SIMULATORS: dict[ArtifactName, Callable[..., np.ndarray]] = {
    "bleed": bleed,
    "musical_noise": musical_noise,
    "phasiness": phasiness,
    "hf_loss": hf_loss,
    "transient_smear": transient_smear,
    "spectral_holes": spectral_holes,
}
# Applied in this order when combined: additive leakage first, band limiting last, as in a
# separator where the mask is formed, smoothed and applied before output filtering.
ORDER = ("bleed", "musical_noise", "spectral_holes", "transient_smear", "phasiness", "hf_loss")


def simulate(
    clean: np.ndarray, others: np.ndarray, rate: int, severities: dict[str, float], seed: int
) -> np.ndarray:
    """Apply one or more simulators; deterministic for a given seed.

    Args:
        severities: ``{artifact name: severity in [0, 1]}``.
    """
    unknown = set(severities) - set(SIMULATORS)
    if unknown:
        raise ValueError(f"unknown artifact types {sorted(unknown)}; known: {list(ARTIFACTS)}")
    out = clean
    for name in ORDER:
        if name in severities:
            sev = float(severities[name])
            if not 0 <= sev <= 1:
                raise ValueError(f"severity of {name} must be in [0, 1], got {sev}")
            rng = np.random.default_rng([seed, ARTIFACTS.index(name)])
            out = SIMULATORS[name](out, others, rate, sev, rng)
    return out
