"""The ``umx`` producer's artifact severities, measured against the known stems.

The separator itself is :mod:`stemprover.models.separator`; its training is
:mod:`stemprover.training.separator`.
"""

from __future__ import annotations

import numpy as np

from stemprover.config import UmxConfig


def measured_artifacts(
    clean: np.ndarray, estimate: np.ndarray, mixture: np.ndarray, rate: int, cfg: UmxConfig
) -> dict[str, float]:
    """Severities of a separated stem, measured against the known stems (none is set).

    - ``bleed``: SIR of the estimate projected on clean and on the rest of the mixture,
      25 dB or more -> 0, 0 dB -> 1.
    - ``hf_loss``: share of the clean stem's energy above the bandwidth that is missing.
    - ``spectral_holes``: share of the clean stem's strong cells (within 30 dB of its peak)
      that the estimate leaves more than 10 dB too weak.
    - ``phasiness``: 0.3 + 0.4 × bleed: the mixture's phase is reused, as for ``mask``.

    Shape: each ``(C, T)``.
    """
    from stemprover.audio.stft import stft_np

    others = mixture - clean
    est, c, o = (np.asarray(a, np.float64).ravel() for a in (estimate, clean, others))
    gram = np.array([[c @ c, c @ o], [o @ c, o @ o]]) + 1e-12 * np.eye(2)
    a, b = np.linalg.solve(gram, [c @ est, o @ est])
    sir = 10 * np.log10((a * a * (c @ c) + 1e-12) / (b * b * (o @ o) + 1e-12))
    bleed = float(np.clip((25 - sir) / 25, 0, 1))
    S, E = stft_np(clean), stft_np(estimate)  # (C, F, N)
    freqs = np.fft.rfftfreq(2 * (S.shape[-2] - 1), 1 / rate)
    high = freqs > cfg.bandwidth_hz
    clean_hf = float(np.sum(np.abs(S[:, high]) ** 2))
    total = float(np.sum(np.abs(S) ** 2)) + 1e-12
    hf = 0.0
    if clean_hf > 1e-4 * total:
        hf = float(np.clip(1 - np.sum(np.abs(E[:, high]) ** 2) / clean_hf, 0, 1))
    power_s, power_e = np.abs(S[:, ~high]) ** 2, np.abs(E[:, ~high]) ** 2
    strong = power_s > power_s.max() * 1e-3
    holes = float(np.mean(power_e[strong] < 0.1 * power_s[strong])) if strong.any() else 0.0
    out = {"bleed": bleed, "hf_loss": hf, "spectral_holes": holes, "phasiness": 0.3 + 0.4 * bleed}
    return {k: round(v, 4) for k, v in out.items() if v > 0}
