"""Real multitracks: MUSDB18-style folders and one-folder-per-song stem sets.

A track folder holds ``vocals``, ``drums``, ``bass``, ``other`` (any audio suffix) and
optionally ``mixture``; or stems with free names, mapped to the four stem types by keywords
(``lead_vox`` -> vocals, ``kick`` -> drums, ...) and summed per type.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from stemprover.audio import io
from stemprover.errors import StemProverError
from stemprover.vocabulary import INSTRUMENTAL, STEM_KEYWORDS, named_stem_type


@dataclass
class Song:
    """A song's stems ``{stem: (C, T)}``, its mixture if given, and where it came from."""

    name: str
    stems: dict[str, np.ndarray]
    mixture: np.ndarray | None
    source: str
    seed: int


def stem_type(filename: str) -> str | None:
    """The stem type a file name denotes; ``None`` for the mixture and for an accompaniment
    (the sum of the other stems, which would count them twice)."""
    name = filename.lower()
    if name.startswith("mixture") or name == "mix":
        return None
    if named_stem_type(filename) == INSTRUMENTAL:
        return None
    for kind, words in STEM_KEYWORDS.items():
        if any(w in name for w in words):
            return kind
    return "other"


def _load(path: Path, rate: int) -> np.ndarray:
    audio, info = io.read(path, "float64")  # (C, T)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    audio = audio[:2]
    if info.sample_rate != rate:
        audio = soxr.resample(audio.T, info.sample_rate, rate, quality="HQ").T
    return audio


def load_track(folder: Path, rate: int, seconds: float | None, seed: int) -> Song:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and io.is_audio_path(p)]
    if not files:
        raise StemProverError("no audio files in track folder", folder)
    stems: dict[str, np.ndarray] = {}
    mixture = None
    for path in files:
        kind = stem_type(path.stem)
        audio = _load(path, rate)
        if kind is None:
            mixture = audio
        else:
            stems[kind] = (
                stems[kind] + _fit(audio, stems[kind].shape[-1]) if kind in stems else audio
            )
    if not stems:
        raise StemProverError("track folder has a mixture but no stems", folder)
    length = min(s.shape[-1] for s in stems.values())
    start = 0
    if seconds is not None and length > seconds * rate:
        rng = np.random.default_rng([seed, _name_key(folder.name)])
        start = int(rng.integers(0, length - round(seconds * rate)))
        length = round(seconds * rate)
    stems = {k: v[:, start : start + length] for k, v in stems.items()}
    if mixture is not None:
        mixture = _fit(mixture[:, start:], length)
    song_seed = int(np.random.SeedSequence([seed, _name_key(folder.name)]).generate_state(1)[0])
    return Song(folder.name, stems, mixture, f"multitrack:{folder.parent.name}", song_seed)


def _name_key(name: str) -> int:
    """A stable per-song number. (Songs were once seeded by ``len(name)``, so every song with
    a name of the same length got the same producer and artifact draws.)"""
    return zlib.crc32(name.encode())


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    return np.pad(x[:, :length], [(0, 0), (0, max(0, length - x.shape[-1]))])


def track_folders(root: Path) -> list[Path]:
    """Every folder under ``root`` holding audio (MUSDB18 ``train/`` and ``test/`` included)."""
    root = Path(root)
    if not root.is_dir():
        raise StemProverError("multitrack folder not found", root)
    folders = sorted(
        p for p in root.rglob("*") if p.is_dir() and any(io.is_audio_path(f) for f in p.iterdir())
    )
    if not folders:
        raise StemProverError("no track folders with audio stems found", root)
    return folders


def load_multitrack(
    folders: list[Path], rate: int, seconds: float | None, seed: int
) -> Iterator[Song]:
    """The songs of :func:`track_folders`, loaded one at a time."""
    for folder in folders:
        yield load_track(folder, rate, seconds, seed)
