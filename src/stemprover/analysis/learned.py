"""A learned artifact detector: a small dilated CNN over gain-normalised spectral features.

The hand-written detectors (``detectors.py``) rank only ``hf_loss`` reliably
(``bench/analyze_auroc.py``), so ``analyze`` uses this network when one is bundled or given.
It reads a stem (and, when given, its mixture) as feature maps on 64 mel bands at 44.1 kHz:

0. the stem's mid level in dB relative to the file's own 99th percentile (gain-invariant),
1. the side/mid level ratio in dB (phasiness and stereo bleed show here; -80 dB in mono),
2. the inter-channel (stereo) or frame-to-frame (mono) phase wander of ``detectors.phasiness``,
3. the mixture's level relative to the same reference (0 when no mixture is given),
4. a flag: 1 when the mixture is given,
5. temporal roughness: the size of each linear bin's second difference over time in dB,
   averaged into the mel band (noise-like parts fluctuate frame to frame; a time-smeared
   magnitude does not, so smearing lowers it and musical noise raises it),
6. in-band spread: the standard deviation of the linear bins' dB levels within each mel band
   (a hole of a few bins inside a wide band vanishes from the band's mean, not its spread),
7. 8. roughness as in 5 at lags of 4 and 12 frames: smoothing over k frames removes
   fluctuations at lags below k, so how far up the lags roughness is lost tells how much.

Maps 5-8 are read at the STFT's full resolution, which the mel-pooled level map loses.
Older detectors read only the first 5 or 7 maps (``DetectorConfig.inputs``).

Per artifact type it outputs a logit map over (mel band, frame); the file's severity is the
sigmoid of the map's mean, a band's or a second's the sigmoid of the mean over that region.
Trained on pairs (``stemprover detector train``) with the manifest's severities as soft
targets of a binary cross-entropy (clean stems: all zero), so scores rise with severity.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import soxr

from stemprover.audio.mel import mel_filterbank
from stemprover.audio.stft import ANALYSIS_STFT, stft_np

RATE = 44100
MELS = 64
FLOOR_DB = -80.0
EPS = 1e-12


MIX_MAPS = slice(3, 5)  # the mixture's level and flag: zero when no mixture is given


@cache
def _mel_bank() -> np.ndarray:
    return mel_filterbank(RATE, ANALYSIS_STFT.n_fft, MELS, fmin=20.0)


@cache
def _mel_average() -> np.ndarray:
    """The mel bank with rows normalised to sum to 1: each band's mean over its bins."""
    return _mel_bank() / (_mel_bank().sum(axis=1, keepdims=True) + EPS)


def _mel_power(spec: np.ndarray) -> np.ndarray:
    """Shape: ``(F, N)`` complex -> ``(MELS, N)`` power."""
    return _mel_bank() @ (np.abs(spec) ** 2)


def features(stem: np.ndarray, rate: int, mix: np.ndarray | None = None) -> np.ndarray:
    """The network's input maps. Shape: stem, mix ``(C, T)`` -> ``(9, MELS, N)`` float32."""
    from stemprover.analysis.detectors import Features, phasiness

    def at_rate(x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, np.float64))
        return x if rate == RATE else soxr.resample(x.T, rate, RATE).T

    stem = at_rate(stem)
    spec = stft_np(stem, ANALYSIS_STFT)  # (C, F, N)
    lin = np.abs(spec.mean(axis=0)) ** 2  # (F, N) mid power per bin
    mid = _mel_bank() @ lin
    floor = 1e-10 * mid.max() + 1e-30  # -100 dB re the file's peak: no absolute constant

    def db(power: np.ndarray) -> np.ndarray:
        return 10 * np.log10(power + floor)

    mid_db = db(mid)
    ref = np.percentile(mid_db, 99)
    level = np.clip(mid_db - ref, FLOOR_DB, 0) / 20
    if spec.shape[0] >= 2:
        side_db = db(_mel_power((spec[0] - spec[1]) / 2))
        side = np.clip(side_db - mid_db, FLOOR_DB, 20) / 20
    else:
        side = np.full_like(level, FLOOR_DB / 20)
    f = Features.of(stem, RATE, spec=spec)
    bank = _mel_average()
    wander = bank @ phasiness(f)
    # Bins more than 100 dB below the file's loudest one are held there (gain-invariant).
    lin_db = np.maximum(db(lin), 10 * np.log10(lin.max() + EPS) + FLOOR_DB - 20)

    def roughness(lag: int) -> np.ndarray:
        if lin_db.shape[-1] <= 2 * lag:  # too short to see this lag: no evidence either way
            return np.zeros_like(level)
        second = np.abs(lin_db[:, lag:-lag] - (lin_db[:, : -2 * lag] + lin_db[:, 2 * lag :]) / 2)
        return bank @ np.pad(second, [(0, 0), (lag, lag)], mode="edge") / 20

    mean = bank @ lin_db
    spread = np.sqrt(np.maximum(bank @ lin_db**2 - mean**2, 0)) / 20
    if mix is not None:
        mix_db = db(_mel_power(stft_np(at_rate(mix), ANALYSIS_STFT).mean(axis=0)))
        mix_level, flag = np.clip(mix_db - ref, FLOOR_DB, 20) / 20, np.ones_like(level)
    else:
        mix_level, flag = np.zeros_like(level), np.zeros_like(level)
    maps = [level, side, wander, mix_level, flag, roughness(1), spread, roughness(4), roughness(12)]
    return np.stack(maps).astype(np.float32)
