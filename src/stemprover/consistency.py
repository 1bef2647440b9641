"""``--consistent``: a song's cleaned stems made to sum to its mixture.

Mixture-consistency projection (Wisdom et al. 2019, "Differentiable consistency constraints
for improved deep speech enhancement", eq. 4, with weights by power): in the STFT domain the
residual ``R = X - sum_i Y_i`` is shared out by each stem's share of the power,
``Y_i += R * |Y_i|^2 / sum_j |Y_j|^2`` (an equal share where all are silent). The STFT is
linear, so the projected stems sum to the mixture exactly; segments are crossfaded with
weights that sum to one, so that holds for the streamed files too.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.audio.chunking import SegmentConfig, overlap_add
from stemprover.audio.conform import conformed
from stemprover.audio.stft import ANALYSIS_STFT, istft_np, stft_np
from stemprover.errors import StemProverError

# The stems must already carry most of the mixture: a missing stem's share would otherwise be
# poured into the others.
MAX_RESIDUAL_DB = -6.0
EPS = 1e-12


def project(stems: np.ndarray, mix: np.ndarray) -> np.ndarray:
    """Shape: stems ``(S, C, T)``, mix ``(C, T)`` -> ``(S, C, T)`` summing to ``mix``."""
    Y = stft_np(stems)  # (S, C, F, N)
    X = stft_np(mix)
    power = np.abs(Y) ** 2
    total = power.sum(axis=0, keepdims=True)
    share = np.where(total > EPS, power / np.maximum(total, EPS), 1.0 / len(stems))
    return istft_np(Y + share * (X - Y.sum(axis=0))[None], stems.shape[-1], ANALYSIS_STFT)


def residual_db(stems: list[io.AudioInfo], mix: io.AudioInfo) -> float:
    """Energy of ``mix - sum(stems)`` relative to the mixture's, in dB."""
    res = total = 0.0
    readers = [io.BlockReader(i, "float64") for i in (*stems, mix)]
    for r in readers:
        r.__enter__()
    try:
        for start in range(0, mix.frames, 1 << 16):
            stop = min(start + (1 << 16), mix.frames)
            *parts, x = (r.read(start, stop) for r in readers)
            res += float(((x - sum(parts)) ** 2).sum())
            total += float((x**2).sum())
    finally:
        for r in readers:
            r.__exit__(None)
    return 10 * np.log10((res + EPS) / (total + EPS))


def make_consistent_files(outputs: list[Path], mix: Path, segment: SegmentConfig | None = None):
    """Rewrite ``outputs`` (one song's stems, same rate, channels and length) in place so that
    they sum to ``mix``.

    Raises:
        StemProverError: the stems leave too much of the mixture out (a stem is missing).
    """
    infos = [io.probe(p) for p in outputs]
    first = infos[0]
    if any(
        (i.sample_rate, i.channels, i.frames) != (first.sample_rate, first.channels, first.frames)
        for i in infos
    ):
        raise StemProverError("the song's stems differ in rate, channels or length")
    with tempfile.TemporaryDirectory(prefix=".stemprover-mix-") as scratch:
        mix_info = conformed(first, io.probe(mix), Path(scratch))
        level = residual_db(infos, mix_info)
        if level > MAX_RESIDUAL_DB:
            raise StemProverError(
                f"the stems leave {level:.1f} dB of the mixture out; --consistent needs all of "
                f"the song's stems ({len(outputs)} given)"
            )
        _rewrite(infos, mix_info, segment or SegmentConfig())


def _rewrite(infos: list[io.AudioInfo], mix: io.AudioInfo, segment: SegmentConfig) -> None:
    first, S, C = infos[0], len(infos), infos[0].channels
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(io.BlockReader(i, "float64")) for i in (*infos, mix)]
        writers = [
            stack.enter_context(
                io.AtomicWriter(i.path, i.sample_rate, C, i.subtype, overwrite=True)
            )
            for i in infos
        ]

        def read(start: int, stop: int) -> np.ndarray:
            return np.concatenate([r.read(start, stop) for r in readers])  # ((S+1)·C, n)

        def process(block: np.ndarray) -> np.ndarray:
            stems, mix_block = block[: S * C].reshape(S, C, -1), block[S * C :]
            return np.concatenate([project(stems, mix_block).reshape(S * C, -1), mix_block])

        length, overlap, context = segment.samples(first.sample_rate)
        for out in overlap_add(read, process, first.frames, length, overlap, context):
            for k, w in enumerate(writers):
                w.write(out[k * C : (k + 1) * C])


def make_consistent(jobs, results) -> list[str]:
    """``--consistent`` over a batch: each song's outputs, rewritten in place. Returns one
    line per song that could not be made consistent (its outputs are kept as enhanced)."""
    songs: dict = {}
    for job, result in zip(jobs, results, strict=True):
        songs.setdefault((job.song, job.src.parent, job.mix), []).append(result)
    notes = []
    for (song, folder, mix), members in songs.items():
        reason = None
        if mix is None:
            reason = "no mixture (give --mix, --mix-dir or a mixture.* file)"
        elif any(r.error is not None for r in members):
            reason = "a stem of the song failed"
        elif len(members) < 2:
            reason = "it needs all of the song's stems, and one was given"
        else:
            try:
                make_consistent_files([r.output for r in members], mix)
            except StemProverError as err:
                reason = err.message
        if reason:
            notes.append(f"--consistent skipped for {folder / song}: {reason}")
    return notes
