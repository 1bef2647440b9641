"""Training crops from a pairs folder, held in memory at the model's rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr
import torch

from stemprover.audio import io
from stemprover.data.pairs import read_manifest
from stemprover.errors import StemProverError


class PairCrops:
    """Random mono crops of (clean, artifacted) pairs.

    Args:
        pairs: Pairs folder.
        split: Which split to load.
        rate: Model sample rate (pairs are resampled once, on load).
        seconds: Crop length.
        where: Optional filter on manifest records (e.g. by artifact type).
    """

    def __init__(self, pairs: Path, split: str, rate: int, seconds: float, where=None) -> None:
        records = [
            r for r in read_manifest(pairs) if r["split"] == split and (where is None or where(r))
        ]
        if not records:
            raise StemProverError(f"no {split!r} pairs to train on", pairs)
        self.records = records
        self.length = round(seconds * rate)
        self.clean, self.artifacted = [], []
        for rec in records:
            for key, store in (("clean", self.clean), ("artifacted", self.artifacted)):
                audio, info = io.read(Path(pairs) / rec[key], "float32")  # (C, T)
                if info.sample_rate != rate:
                    audio = soxr.resample(audio.T, info.sample_rate, rate).T.astype(np.float32)
                store.append(audio)

    def __len__(self) -> int:
        return len(self.records)

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape: returns ``(clean, artifacted)``, each ``(size, crop samples)``."""
        clean, art = [], []
        for _ in range(size):
            k = int(rng.integers(len(self.records)))
            c, a = self.clean[k], self.artifacted[k]
            ch = int(rng.integers(c.shape[0]))
            start = int(rng.integers(0, max(1, c.shape[-1] - self.length)))
            seg_c, seg_a = c[ch, start : start + self.length], a[ch, start : start + self.length]
            pad = self.length - len(seg_c)
            clean.append(np.pad(seg_c, (0, pad)))
            art.append(np.pad(seg_a, (0, pad)))
        return torch.from_numpy(np.stack(clean)), torch.from_numpy(np.stack(art))
