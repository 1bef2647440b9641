"""``analyze``: severity of each artifact type per file, band and second, from the bundled
learned detector or the hand-written detectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemprover.analysis import learned
from stemprover.analysis.detectors import analyze_heuristic
from stemprover.audio.bands import BAND_NAMES, band_of_hz
from stemprover.audio.mel import mel_frequencies
from stemprover.audio.stft import ANALYSIS_STFT
from stemprover.models.detector import DetectorNet, bundled_detector


def analyze(stem: np.ndarray, rate: int, mix: np.ndarray | None = None, detector="auto") -> dict:
    """Severity per artifact type: ``overall`` score, ``bands`` and ``time`` (per second).

    Args:
        detector: ``"auto"``: the bundled learned detector when the package has one, else
            the hand-written detectors; ``"heuristic"``; a detector folder; a ``DetectorNet``.

    Returns:
        ``{type: {"score", "evidence", "bands": {band: score}, "time": [score per second]}}``.
    """
    net = detector
    if detector == "auto":
        net = bundled_detector()
    elif detector == "heuristic":
        net = None
    elif isinstance(detector, str | Path):
        net = DetectorNet.load(Path(detector))
    if net is not None:
        return _analyze_learned(net, stem, rate, mix)
    return analyze_heuristic(stem, rate, mix)


def _analyze_learned(net, stem: np.ndarray, rate: int, mix: np.ndarray | None) -> dict:
    """``analyze`` with the learned detector: sigmoid of mean logits per file, band, second."""
    maps = net.maps(learned.features(stem, rate, mix))  # {type: (MELS, N)}
    centres = mel_frequencies(learned.MELS + 2, 20.0, learned.RATE / 2)[1:-1]
    rows = band_of_hz(centres)
    frames_per_s = max(1, round(learned.RATE / ANALYSIS_STFT.hop))
    sig = lambda x: float(1 / (1 + np.exp(-x)))  # noqa: E731
    out = {}
    for name, logit in maps.items():
        n = logit.shape[-1] // frames_per_s
        out[name] = {
            "score": sig(logit.mean()),
            "evidence": float(logit.mean()),
            "bands": {
                b: sig(logit[rows == k].mean())
                for k, b in enumerate(BAND_NAMES)
                if (rows == k).any()
            },
            "time": [
                sig(logit[:, i * frames_per_s : (i + 1) * frames_per_s].mean()) for i in range(n)
            ],
        }
    return out
