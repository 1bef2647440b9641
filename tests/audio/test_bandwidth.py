"""Band replication for band-limited stems (stemprover.audio.bandwidth)."""

from __future__ import annotations

import numpy as np
import torch

from stemprover.audio.bandwidth import extend_bandwidth, find_cutoff
from stemprover.audio.stft import StftConfig, stft

RATE = 44100
CFG = StftConfig(n_fft=2048, hop=512, compress=1.0)


def _noise(seconds: float = 2.0, seed: int = 0, slope_db_per_octave: float = 0.0) -> np.ndarray:
    """Stereo noise whose spectrum falls by ``slope_db_per_octave``."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    spec = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec *= (np.maximum(f, 50) / 1000) ** (slope_db_per_octave / (20 * np.log10(2)))
    return np.fft.irfft(spec, n, axis=-1).astype(np.float32)


def _lowpass(x: np.ndarray, hz: float) -> np.ndarray:
    spec = np.fft.rfft(x, axis=-1)
    spec[..., np.fft.rfftfreq(x.shape[-1], 1 / RATE) > hz] = 0
    return np.fft.irfft(spec, x.shape[-1], axis=-1).astype(np.float32)


def _spec(x: np.ndarray) -> torch.Tensor:
    return stft(torch.from_numpy(x), CFG)


def _band_db(spec: torch.Tensor, lo_hz: float, hi_hz: float) -> float:
    hz = RATE / CFG.n_fft
    band = spec[:, round(lo_hz / hz) : round(hi_hz / hz)]
    return float(10 * torch.log10(band.abs().pow(2).mean() + 1e-20))


def test_a_band_limit_is_found_where_it_is_and_natural_spectra_have_none():
    for hz in (11000.0, 16000.0):
        k = find_cutoff(_spec(_lowpass(_noise(slope_db_per_octave=-6), hz)), RATE)
        assert k is not None and abs(k * RATE / CFG.n_fft - hz) < 300
    for slope in (0.0, -6.0, -18.0):  # broadband, natural and steep roll-offs: no cliff
        assert find_cutoff(_spec(_noise(slope_db_per_octave=slope)), RATE) is None
    # an instrument without highs at all is not a band limit below MIN_HZ
    assert find_cutoff(_spec(_lowpass(_noise(), 1500.0)), RATE) is None


def test_replication_fills_the_band_above_at_the_extrapolated_level_and_keeps_the_rest():
    full = _spec(_noise(slope_db_per_octave=-6))
    limited = _spec(_lowpass(_noise(slope_db_per_octave=-6), 11000.0))
    k = find_cutoff(limited, RATE)
    for gain in (-10.0, -20.0):
        out = extend_bandwidth(limited, k, RATE, gain)
        hz = RATE / CFG.n_fft
        below = slice(0, k - round(250 / hz))
        assert torch.equal(out[:, below], limited[:, below])  # below the cliff: untouched
        # above it: the band comes back near the true level, `gain` below it
        got, want = _band_db(out, 12500, 20000), _band_db(full, 12500, 20000)
        assert _band_db(limited, 12500, 20000) < want - 40
        assert abs(got - (want + gain)) < 3.0
