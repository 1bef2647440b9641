"""Reference systems evaluated the same way as the model.

Settings were chosen by a grid search on 16 training pairs (``python experiments/tune_baselines/tune_baselines.py
PAIRS``, pairs from ``stemprover pairs --synthetic 8 --seconds 10 --seed 1``) for the best mean
SI-SDR improvement. On those pairs every setting of both classical filters lowered the mean
SI-SDR (best: wiener -2.05 dB, spectral-gate -1.47 dB; both hurt most on nearly clean inputs),
so the gentlest settings won. They are fixed here:

- ``input``: the artifacted stem unchanged (do nothing).
- ``spectral-gate``: noisereduce's non-stationary spectral gate, ``prop_decrease`` 0.1, other
  settings at the library defaults.
- ``wiener``: a classical mixture-aware Wiener post-filter. The rest of the mixture,
  ``mixture - stem``, is the interference estimate; gain ``P_s / (P_s + β P_o)`` with PSDs
  smoothed over 5 frames, ``β`` 0.02 and a -3 dB gain floor. Without a mixture it falls back to
  a minimum-statistics noise estimate (the stationary floor of the stem itself).
- ``mix-consistency``: each stem plus an equal share of what the song's stems leave out of
  the mixture (needs the song's other stems).
- ``wiener-mc``: the multichannel Wiener filter over all of a song's stems and its mixture,
  as Open-Unmix applies it (``norbert.wiener`` with the stems' magnitudes, one EM
  iteration, no soft mask): the separator-agnostic classical refinement.
- ``oracle``: the phase-sensitive ideal ratio mask ``|S| cos(φ_S − φ_A) / |A|`` from the
  clean reference S, bounded to [0, 4] and applied to the artifacted stem A. Per bin it is the
  least-squares optimal real gain (Erdogan et al. 2015, "Phase-sensitive and recognition-boosted
  speech separation", eq. 7), so it is an upper bound for any real-mask cleaner; 1 is
  inside the bounds, so it never does worse than the input bin by bin.

Shape:
    every system maps ``(C, T)`` float64 to ``(C, T)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stemprover.audio.dsp import smooth_time
from stemprover.audio.stft import ANALYSIS_STFT, istft_np, stft_np


@dataclass(frozen=True)
class Inputs:
    """What a system may look at. Only ``oracle`` reads ``reference``."""

    artifacted: np.ndarray
    mixture: np.ndarray | None
    reference: np.ndarray
    rate: int
    # The song's other stems as the separator gave them (song-level systems read them).
    siblings: tuple[np.ndarray, ...] = ()


def do_nothing(x: Inputs) -> np.ndarray:
    return x.artifacted


def spectral_gate(x: Inputs, prop_decrease: float = 0.1) -> np.ndarray:
    import noisereduce

    return np.stack(
        [
            noisereduce.reduce_noise(y=ch, sr=x.rate, stationary=False, prop_decrease=prop_decrease)
            for ch in x.artifacted
        ]
    )


def wiener(x: Inputs, beta: float = 0.02, floor_db: float = -3.0) -> np.ndarray:
    a = stft_np(x.artifacted)
    p_s = smooth_time(np.abs(a) ** 2, 5)
    if x.mixture is not None:
        p_o = smooth_time(np.abs(stft_np(x.mixture) - a) ** 2, 5)
    else:  # minimum statistics over ~1.5 s: the stationary floor
        win = max(1, round(1.5 * x.rate / ANALYSIS_STFT.hop))
        p_o = -_smooth_max(-p_s, win)
    gain = np.maximum(p_s / (p_s + beta * p_o + 1e-12), 10 ** (floor_db / 20))
    return istft_np(gain * a, x.artifacted.shape[-1])


def _smooth_max(a: np.ndarray, frames: int) -> np.ndarray:
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(a, size=frames, axis=-1, mode="nearest")


def mix_consistency(x: Inputs) -> np.ndarray:
    if x.mixture is None or not x.siblings:
        return x.artifacted
    left_out = x.mixture - x.artifacted - sum(x.siblings)
    return x.artifacted + left_out / (1 + len(x.siblings))


def wiener_mc(x: Inputs, iterations: int = 1) -> np.ndarray:
    import norbert

    if x.mixture is None or not x.siblings:
        return x.artifacted
    stems = np.stack([x.artifacted, *x.siblings])  # (S, C, T)
    v = np.abs(stft_np(stems)).transpose(3, 2, 1, 0)  # (N, F, C, S)
    mix = stft_np(x.mixture).transpose(2, 1, 0)  # (N, F, C)
    y = norbert.wiener(v, mix, iterations, use_softmask=False)  # (N, F, C, S)
    return istft_np(np.ascontiguousarray(y[..., 0].transpose(2, 1, 0)), x.artifacted.shape[-1])


def oracle(x: Inputs) -> np.ndarray:
    s, a = stft_np(x.reference), stft_np(x.artifacted)
    mask = np.clip(np.real(s * np.conj(a)) / (np.abs(a) ** 2 + 1e-12), 0.0, 4.0)
    return istft_np(mask * a, x.artifacted.shape[-1])


# The baselines that read the song's other stems (``Inputs.siblings``).
SONG_BASELINES = ("mix-consistency", "wiener-mc")

BASELINES: dict[str, Callable[[Inputs], np.ndarray]] = {
    "input": do_nothing,
    "spectral-gate": spectral_gate,
    "wiener": wiener,
    "mix-consistency": mix_consistency,
    "wiener-mc": wiener_mc,
    "oracle": oracle,
}
