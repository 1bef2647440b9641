"""Bandwidth extension for a stem that lost its highs and comes without its mixture.

A band-limited separator (Spleeter-class models stop at 11 or 16 kHz) leaves an empty band
above a cliff in the stem's spectrum. With the mixture the refiner fills it from the mixture;
without it nothing in the stem says what was there, so the refiner (a mask on the stem) leaves
it empty. This fills it the way spectral band replication does in audio codecs (HE-AAC's SBR):
the octave below the cliff is copied upwards frame by frame, so the replica keeps the stem's
rhythm and attacks, at a level extrapolated from that octave's long-term slope and
``gain_db`` below it. The replica is not the lost content, so it costs SI-SDR in proportion to
its energy: ``gain_db`` trades that cost against how much of the band comes back.

Shape conventions: spectrograms ``(C, F, N)`` complex, ``F = n_fft // 2 + 1``.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-12
CLIFF_DB = 30.0  # drop of the long-term spectrum across ~500 Hz that counts as a band limit
EMPTY_DB = 33.0  # every bin above must sit this far below the octave under the cliff
MIN_HZ = 2000.0  # cliffs below this are not a separator's band limit
TRANSITION_HZ = 250.0  # half-width of the cliff
MAX_SLOPE_DB = -3.0  # the extrapolated envelope falls at least this much per octave


def _ltas_db(spec: torch.Tensor) -> torch.Tensor:
    """Long-term spectrum in dB, smoothed over 5 bins. ``(C, F, N)`` -> ``(F,)``."""
    power = spec.abs().pow(2).mean(dim=(0, 2)).double()
    db = 10 * torch.log10(power + EPS)
    return torch.nn.functional.avg_pool1d(db[None, None], 5, 1, 2, count_include_pad=False)[0, 0]


def _grid(bins: int, rate: int) -> tuple[float, int]:
    """Hz per bin and the cliff's half-width in bins, for ``bins`` STFT bins at ``rate``."""
    hz = rate / (2 * (bins - 1))
    return hz, max(1, round(TRANSITION_HZ / hz))


def find_cutoff(spec: torch.Tensor, rate: int, ltas: torch.Tensor | None = None) -> int | None:
    """The bin at the centre of a band limit's cliff, or ``None`` when the stem has none.

    A cliff is the largest drop of the long-term spectrum across ``2·TRANSITION_HZ`` above
    ``MIN_HZ``; it counts when it drops at least ``CLIFF_DB`` and every bin above it sits
    ``EMPTY_DB`` below the octave under it (a natural roll-off, or an instrument with no
    highs, does neither). On validation and calibration stems (``experiments/bandwidth``)
    the band-limited ones sit 38–75 dB below, the clean references and stems without lost
    highs at most 29 dB, some with cliffs of up to 43 dB (SoundFont samples); the STFT
    window's leakage past a brick-wall limit stands 35–50 dB below.

    ``ltas``: the stem's long-term spectrum when the caller already has it.
    """
    F = spec.shape[-2]
    hz, step = _grid(F, rate)
    lo_bin = max(2 * step, math.ceil(MIN_HZ / hz))
    if F - step - lo_bin < 2 * step:
        return None
    ltas = _ltas_db(spec) if ltas is None else ltas
    drop = torch.full_like(ltas, -math.inf)
    drop[step:-step] = ltas[: -2 * step] - ltas[2 * step :]
    drop[:lo_bin] = -math.inf
    k = int(torch.argmax(drop))
    if drop[k] < CLIFF_DB or k + step >= F - 1:
        return None
    below = ltas[k // 2 : k - step]
    above = ltas[k + step :]
    if len(below) == 0 or above.max() > below.mean() - EMPTY_DB:
        return None
    return k


def extend_bandwidth(
    spec: torch.Tensor, cutoff: int, rate: int, gain_db: float, ltas: torch.Tensor | None = None
) -> torch.Tensor:
    """The stem with the band from ``cutoff`` up filled by replicas of the octave below it.

    Bin ``f`` above the cliff takes the bin ``lo + (f − start) mod (start − lo)`` of the
    octave ``[lo, start)`` under the cliff, frame by frame, scaled so its long-term level
    follows the least-squares line through that octave's long-term spectrum over log
    frequency (falling at least ``MAX_SLOPE_DB`` per octave), ``gain_db`` below it; it fades
    in over the cliff.

    Shape: ``(C, F, N)`` -> the same.
    """
    F = spec.shape[-2]
    hz, step = _grid(F, rate)
    start = cutoff - step  # the octave's top: below the cliff's slope
    lo = max(1, start // 2)
    if start - lo < 2:
        return spec
    ltas = _ltas_db(spec) if ltas is None else ltas
    x = torch.log2(torch.arange(lo, start, dtype=torch.float64) * hz)
    y = ltas[lo:start]
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / (x - x.mean()).square().sum())
    slope = min(slope, MAX_SLOPE_DB)
    bins = torch.arange(start, F)
    src = lo + (bins - start) % (start - lo)
    target = y.mean() + slope * (torch.log2(bins.double() * hz) - x.mean()) + gain_db
    gain = 10 ** ((target - ltas[src]) / 20)
    fade = ((bins - start).double() / (2 * step)).clamp(0, 1)
    out = spec.clone()
    w = (gain * fade).to(spec.real.dtype)[None, :, None]
    out[:, bins] = spec[:, bins] + w * spec[:, src]
    return out


def extend_highs(spec: torch.Tensor, rate: int, gain_db: float) -> torch.Tensor:
    """:func:`extend_bandwidth` above the band limit :func:`find_cutoff` finds, or the stem
    as it is when it has none; the long-term spectrum is computed once for both.

    Shape: ``(C, F, N)`` -> the same.
    """
    ltas = _ltas_db(spec)
    k = find_cutoff(spec, rate, ltas)
    return spec if k is None else extend_bandwidth(spec, k, rate, gain_db, ltas)
