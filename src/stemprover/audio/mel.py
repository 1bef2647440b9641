"""Mel scale and filterbank over numpy, as librosa computes them (Slaney's scale and area
normalisation, librosa's defaults), so the core install needs no librosa."""

from __future__ import annotations

import functools

import numpy as np

_F_SP = 200.0 / 3  # Hz per mel below 1 kHz (Slaney's Auditory Toolbox)
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz):
    hz = np.asanyarray(hz, dtype=np.float64)
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, hz / _F_SP)


def mel_to_hz(mel):
    mel = np.asanyarray(mel, dtype=np.float64)
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, mel * _F_SP)


def mel_frequencies(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels))


def mel_filterbank(
    rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular filters, each normalised to unit area (``librosa.filters.mel``).

    Shape:
        returns ``(n_mels, n_fft // 2 + 1)`` float32.
    """
    fmax = rate / 2 if fmax is None else fmax
    bins = np.linspace(0, rate / 2, 1 + n_fft // 2)
    edges = mel_frequencies(n_mels + 2, fmin, fmax)  # (n_mels + 2,)
    width = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / width[:-1, None]
    upper = ramps[2:] / width[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=16)
def measure_filterbank(rate: int, n_fft: int, n_mels: int = 80) -> np.ndarray:
    """The 80-band mel filterbank (from 20 Hz) the bleedless / fullness measures and the
    training loss that mirrors them read, built once per (rate, n_fft). Do not modify it."""
    return mel_filterbank(rate, n_fft, n_mels, fmin=20.0)
