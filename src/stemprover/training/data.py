"""Training crops from pairs folders at the model's rate, read from disk a crop at a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr
import torch

from stemprover.audio import io
from stemprover.data.manifest import read_manifest
from stemprover.errors import StemProverError


class PairCrops:
    """Random crops (one channel, or all: ``song_batch(channels=...)``) of (clean,
    artifacted) pairs, and their mixtures when asked.

    Args:
        pairs: Pairs folder, or several (their records are pooled, in the order given).
        split: Which split to load.
        rate: Model sample rate (pairs are resampled once, on load).
        seconds: Crop length.
        where: Optional filter on manifest records (e.g. by artifact type).
        curriculum: ``(artifact, start)``: progressive targeting, drawing only pairs whose
            severity of ``artifact`` is at most a ceiling that rises from ``start`` to 1 over
            the first 70% of training.
        identity: Share of crops whose input is the clean crop itself, so that the model also
            learns to leave clean audio alone.
        mixture: Also load each pair's mixture (crops from the same place); every pair must
            have one.
        siblings: Also keep, for each pair, the artifacted stems of the other pairs of its
            song (same folder and split): the song's other separated stems, for
            :meth:`song_batch`.
        what: How the error names the pairs ``where`` keeps, when it keeps none.
    """

    def __init__(
        self,
        pairs: Path | Sequence[Path],
        split: str,
        rate: int,
        seconds: float,
        where=None,
        curriculum: tuple[str, float] | None = None,
        identity: float = 0.0,
        mixture: bool = False,
        what: str = "pairs",
        siblings: bool = False,
    ) -> None:
        folders = [Path(pairs)] if isinstance(pairs, str | Path) else [Path(p) for p in pairs]
        found = [
            (folder, r)
            for folder in folders
            for r in read_manifest(folder)
            if r["split"] == split and (where is None or where(r))
        ]
        if not found:
            raise StemProverError(
                f"no {split!r} {what} to train on", ", ".join(str(f) for f in folders)
            )
        self.records = [r for _, r in found]
        self.length = round(seconds * rate)
        self.curriculum = curriculum
        self.identity = identity
        self.clean, self.artifacted = [], []
        self.mixture: list[np.ndarray] | None = [] if mixture else None
        stores = [("clean", self.clean), ("artifacted", self.artifacted)]
        if self.mixture is not None:
            stores.append(("mixture", self.mixture))
        loaded: dict[Path, np.ndarray] = {}  # a song's stems share one mixture: load it once
        for folder, rec in found:
            for key, store in stores:
                if not rec.get(key):
                    raise StemProverError(f"pair {rec['id']} has no {key}", folder)
                path = folder / rec[key]
                if path not in loaded:
                    loaded[path] = _samples(path, rate)
                store.append(loaded[path])
        # each pair's song: its pairs' indices, itself first (the rest are its siblings)
        self.songs: list[list[int]] = []
        if siblings:
            by_song: dict[tuple, list[int]] = {}
            for k, (folder, rec) in enumerate(found):
                by_song.setdefault((folder, rec.get("song")), []).append(k)
            for k, (folder, rec) in enumerate(found):
                group = by_song[(folder, rec.get("song"))]
                self.songs.append([k, *(j for j in group if j != k)])

    def __len__(self) -> int:
        return len(self.records)

    def _candidates(self, progress: float) -> np.ndarray:
        if self.curriculum is None:
            return np.arange(len(self.records))
        name, start = self.curriculum
        ceiling = start + (1 - start) * min(1.0, progress / 0.7)
        sev = np.array([r["artifacts"].get(name, 0.0) for r in self.records])
        chosen = np.flatnonzero(sev <= ceiling + 1e-9)
        return chosen if len(chosen) else np.array([int(np.argmin(sev))])

    def batch(
        self, size: int, rng: np.random.Generator, progress: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Shape: returns ``(clean, artifacted, mixture)``, each ``(size, crop samples)``;
        ``mixture`` is ``None`` unless loaded.

        Args:
            progress: Share of training done, for the curriculum.
        """
        return self.song_batch(size, rng, progress)[:3]

    def song_batch(
        self,
        size: int,
        rng: np.random.Generator,
        progress: float = 1.0,
        identity: float | None = None,
        channels: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """:meth:`batch` plus the same crops of each pair's siblings (loaded with
        ``siblings=True``, else ``None``): ``(size, most siblings, crop samples)``, zeros
        where a song has fewer. ``identity`` overrides the share of identity crops.

        ``channels``: crops of that many channels (a mono pair repeated), each tensor with a
        channel axis after the first: ``(size, channels, samples)``, siblings
        ``(size, most, channels, samples)``; ``None``: one random channel, no axis.
        """
        identity = self.identity if identity is None else identity
        crops: list[list[np.ndarray]] = [[], [], []]
        sibs: list[list[np.ndarray]] = []
        candidates = self._candidates(progress)
        L = self.length

        def cut(audio: np.ndarray, ch, start: int) -> np.ndarray:
            return _cut(audio, ch, start, L, channels)

        for _ in range(size):
            k = int(rng.choice(candidates))
            c, a = self.clean[k], self.artifacted[k]
            ch = int(rng.integers(c.shape[0]))
            start = int(rng.integers(0, max(1, c.shape[-1] - L)))
            seg_c, seg_a = cut(c, ch, start), cut(a, ch, start)
            if identity and rng.random() < identity:
                seg_a = seg_c
            segs = [seg_c, seg_a]
            if self.mixture is not None:
                segs.append(cut(self.mixture[k], ch, start))
            for store, seg in zip(crops, segs, strict=False):
                store.append(seg)
            if self.songs:
                sibs.append([cut(self.artifacted[j], ch, start) for j in self.songs[k][1:]])
        clean, art, mix = (torch.from_numpy(np.stack(c)) if c else None for c in crops)
        siblings = None
        if self.songs:
            most = max(1, max(len(s) for s in sibs))
            out = np.zeros((size, most, *clean.shape[1:]), np.float32)
            for i, row in enumerate(sibs):
                if row:
                    out[i, : len(row)] = np.stack(row)
            siblings = torch.from_numpy(out)
        return clean, art, mix, siblings

    def song_crops(
        self, rng: np.random.Generator, channels: int = 2
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One crop of all of a random song's pairs (loaded with ``siblings=True``), the same
        place in each: ``(clean, artifacted, mixture)``, ``(J, channels, samples)`` for the
        song's ``J`` pairs, the mixture ``(channels, samples)``. For training through the
        song filter, which needs every stem of the song and its reference."""
        if not self.songs:
            raise StemProverError("song crops need the pairs loaded with siblings=True")
        k = int(rng.integers(len(self.records)))
        L, song = self.length, self.songs[k]
        start = int(rng.integers(0, max(1, self.clean[k].shape[-1] - L)))

        def crops(store: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack([_cut(store[j], 0, start, L, channels) for j in song]))

        clean = crops(self.clean)
        if self.mixture is not None:
            mix = torch.from_numpy(_cut(self.mixture[k], 0, start, L, channels))
        else:
            mix = clean.sum(0)
        return clean, crops(self.artifacted), mix


def _samples(path: Path, rate: int) -> np.ndarray | io.FloatWav:
    """A file's samples at ``rate``, ``(C, T)``: a 32-bit float WAV at that rate (what
    ``stemprover pairs`` writes) stays on disk and is read a crop at a time, so training holds
    no audio in memory (the recipe's four pair folders' train and valid splits are ~13 GB);
    any other file is read, resampled once if its rate differs, and kept as an array."""
    info = io.probe(path)
    if info.sample_rate == rate and (wav := io.FloatWav.open(info)) is not None:
        return wav
    with io.BlockReader(info) as reader:  # already probed: not io.read
        audio = reader.read(0, info.frames)
    if info.sample_rate != rate:
        audio = soxr.resample(audio.T, info.sample_rate, rate).T
    return audio.astype(np.float32, copy=False)


def _cut(
    audio: np.ndarray | io.FloatWav, ch: int, start: int, length: int, channels: int | None
) -> np.ndarray:
    """``length`` samples from ``start`` (zero-padded past the end): channel ``ch`` when
    ``channels`` is None, else that many channels (a mono file repeated)."""
    if channels is None:
        seg = audio[min(ch, audio.shape[0] - 1), start : start + length]
    else:
        seg = audio[np.arange(channels) % audio.shape[0], start : start + length]
    return np.pad(seg, [(0, 0)] * (seg.ndim - 1) + [(0, length - seg.shape[-1])])
