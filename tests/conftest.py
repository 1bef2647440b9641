"""Shared fixtures: audio synthesised in tmp_path, nothing written elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

# The reliability tests' fixtures (`song`, `pairs`); a module's own fixture of a name wins.
pytest_plugins = ["tests.reliability_common"]


def write_noise(
    path: Path, seconds: float, rate: int, channels: int, subtype: str, seed: int = 0
) -> np.ndarray:
    """Write band-rich test audio and return what the file holds, as float64 ``(T, C)``."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * rate)
    t = np.arange(frames) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None]
    audio = np.clip(tone + 0.1 * rng.standard_normal((frames, channels)), -1, 1)
    sf.write(path, audio, rate, subtype=subtype)
    return sf.read(path, dtype="float64", always_2d=True)[0]


@pytest.fixture
def noise_file(tmp_path: Path):
    def make(
        name: str = "in.wav",
        seconds: float = 2.0,
        rate: int = 22050,
        channels: int = 1,
        subtype: str = "PCM_16",
        seed: int = 0,
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_noise(path, seconds, rate, channels, subtype, seed)
        return path

    return make
