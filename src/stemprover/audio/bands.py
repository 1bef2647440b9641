"""The frequency bands of SPEC.md and their perceptual weights: defined here and only here."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Band:
    name: str
    low_hz: float
    high_hz: float | None  # None: up to Nyquist
    weight: float


# Weights follow the ear's sensitivity (ISO 226 equal-loudness contours are flattest and
# lowest at 2-5 kHz) and where separation artifacts are most audible; they sum to 1.
BANDS: tuple[Band, ...] = (
    Band("sub_bass", 20.0, 60.0, 0.05),
    Band("bass", 60.0, 250.0, 0.12),
    Band("low_mid", 250.0, 500.0, 0.14),
    Band("mid", 500.0, 2000.0, 0.22),
    Band("high_mid", 2000.0, 4000.0, 0.19),
    Band("presence", 4000.0, 6000.0, 0.15),
    Band("brilliance", 6000.0, None, 0.13),
)
BAND_NAMES = tuple(b.name for b in BANDS)


def band_of_hz(freqs: np.ndarray) -> np.ndarray:
    """Band number of each frequency (Hz); frequencies below the first band join it."""
    edges = np.array([b.low_hz for b in BANDS[1:]])
    return np.searchsorted(edges, np.asarray(freqs), side="right")


def band_index(n_fft: int, sample_rate: int) -> np.ndarray:
    """Band number of every STFT bin.

    Returns:
        ``(n_fft // 2 + 1,)`` int array with values in ``[0, len(BANDS))``.
    """
    return band_of_hz(np.fft.rfftfreq(n_fft, 1.0 / sample_rate))


def band_masks(n_fft: int, sample_rate: int) -> np.ndarray:
    """One boolean row per band.

    Returns:
        ``(len(BANDS), n_fft // 2 + 1)`` bool array; each bin is in exactly one band.
    """
    idx = band_index(n_fft, sample_rate)
    return idx[None, :] == np.arange(len(BANDS))[:, None]


def bin_weights(n_fft: int, sample_rate: int) -> np.ndarray:
    """Per-bin perceptual weight: each band's weight spread evenly over its bins.

    Returns:
        ``(n_fft // 2 + 1,)`` float array summing to the weight of the bands present.
    """
    masks = band_masks(n_fft, sample_rate)
    counts = masks.sum(axis=1)
    weights = np.array([b.weight for b in BANDS])
    per_band = np.divide(weights, counts, out=np.zeros_like(weights), where=counts > 0)
    return (masks * per_band[:, None]).sum(axis=0)


# Sub-band width (Hz) inside each band of BANDS, for band-split networks: finer where the ear
# resolves pitch (sub-bands are at least two bins wide and the last band stops splitting at
# 16 kHz, above which one sub-band takes the rest).
SUB_BAND_HZ = {
    "sub_bass": 40.0,
    "bass": 50.0,
    "low_mid": 125.0,
    "mid": 250.0,
    "high_mid": 500.0,
    "presence": 500.0,
    "brilliance": 1000.0,
}
SPLIT_TOP_HZ = 16000.0


def split_bands(n_fft: int, sample_rate: int) -> list[tuple[int, int]]:
    """Contiguous ``[lo, hi)`` bin ranges covering all ``n_fft // 2 + 1`` bins: each band of
    :data:`BANDS` cut into sub-bands :data:`SUB_BAND_HZ` wide."""
    bins = n_fft // 2 + 1
    hz_per_bin = sample_rate / n_fft
    edges_hz = [0.0]
    for band in BANDS:
        top = min(band.high_hz or sample_rate / 2, sample_rate / 2)
        step = SUB_BAND_HZ[band.name]
        f = edges_hz[-1]
        while f + step < top - 1e-9 and f + step <= SPLIT_TOP_HZ:
            f += step
            edges_hz.append(f)
        if top < sample_rate / 2:
            edges_hz.append(top)
    edges = sorted({min(bins, round(f / hz_per_bin)) for f in edges_hz} | {bins})
    ranges: list[tuple[int, int]] = []
    for lo, hi in pairwise(edges):
        if ranges and (hi - lo < 2 or ranges[-1][1] - ranges[-1][0] < 2):
            ranges[-1] = (ranges[-1][0], hi)  # merge a sliver into the sub-band below
        else:
            ranges.append((lo, hi))
    return ranges
