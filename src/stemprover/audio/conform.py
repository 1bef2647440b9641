"""The mixture taken as it comes: another rate is resampled, mono and stereo are mapped to
the stem's channels, and a length within a few milliseconds is padded or trimmed. Anything
further apart is one line naming both files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from stemprover.audio import io
from stemprover.errors import StemProverError

LENGTH_TOLERANCE_S = 0.05  # decoders pad MP3 and AAC by tens of milliseconds
BLOCK = 1 << 16


def describe(info: io.AudioInfo) -> str:
    return f"{info.path} ({info.sample_rate} Hz, {info.channels} ch, {info.duration:.3f} s)"


def check_mixture(stem: io.AudioInfo, mix: io.AudioInfo) -> bool:
    """Whether ``mix`` needs conforming to ``stem`` (``False``: it matches as it is).

    Raises:
        StemProverError: channels that cannot be mapped or lengths too far apart.
    """
    if (mix.sample_rate, mix.channels, mix.frames) == (
        stem.sample_rate,
        stem.channels,
        stem.frames,
    ):
        return False
    if mix.channels != stem.channels and 1 not in (mix.channels, stem.channels):
        raise StemProverError(
            f"the mixture does not fit the stem: {describe(mix)} vs {describe(stem)} "
            "(channels can be mapped only from or to mono)"
        )
    if abs(mix.duration - stem.duration) > LENGTH_TOLERANCE_S:
        raise StemProverError(
            f"the mixture does not fit the stem: {describe(mix)} vs {describe(stem)} "
            f"(lengths differ by more than {LENGTH_TOLERANCE_S * 1000:.0f} ms)"
        )
    return True


def conformed(stem: io.AudioInfo, mix: io.AudioInfo, folder: Path) -> io.AudioInfo:
    """``mix`` at the stem's rate, channels and length, written (streaming, float32) into
    ``folder``; ``mix`` itself when it already fits."""
    if not check_mixture(stem, mix):
        return mix
    fd, name = tempfile.mkstemp(suffix=".wav", dir=folder)
    os.close(fd)
    out = Path(name)
    resampler = (
        soxr.ResampleStream(mix.sample_rate, stem.sample_rate, mix.channels, dtype="float32")
        if mix.sample_rate != stem.sample_rate
        else None
    )
    written = 0
    with sf.SoundFile(str(out), "w", stem.sample_rate, stem.channels, "FLOAT") as dst:
        with io.BlockReader(mix, "float32") as reader:
            for start in range(0, mix.frames, BLOCK):
                stop = min(start + BLOCK, mix.frames)
                block = reader.read(start, stop).T  # (n, C)
                if resampler is not None:
                    block = resampler.resample_chunk(block, last=stop == mix.frames)
                written += _write(dst, _channels(block, stem.channels), stem.frames - written)
        if written < stem.frames:
            _write(dst, np.zeros((stem.frames - written, stem.channels), np.float32), stem.frames)
    return io.probe(out)


def _channels(block: np.ndarray, channels: int) -> np.ndarray:
    if block.shape[1] == channels:
        return block
    if block.shape[1] == 1:
        return np.repeat(block, channels, axis=1)
    return block.mean(axis=1, keepdims=True)  # to mono


def _write(dst: sf.SoundFile, block: np.ndarray, room: int) -> int:
    block = block[: max(room, 0)]
    dst.write(np.ascontiguousarray(block, dtype=np.float32))
    return len(block)
