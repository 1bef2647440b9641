"""Small array helpers shared by simulators, baselines and analysis."""

from __future__ import annotations

import numpy as np


def smooth_time(a: np.ndarray, frames: int) -> np.ndarray:
    """Centred moving average over the last axis, same length, edges held.

    ``frames <= 1`` is the identity.
    """
    if frames <= 1:
        return a
    pad = [(0, 0)] * (a.ndim - 1) + [(frames // 2, frames - 1 - frames // 2)]
    csum = np.cumsum(np.pad(a, pad, mode="edge"), axis=-1)
    csum = np.concatenate([np.zeros_like(csum[..., :1]), csum], axis=-1)
    return (csum[..., frames:] - csum[..., :-frames]) / frames
