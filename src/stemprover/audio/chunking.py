"""Segmentation with overlap-add, streaming: memory holds one segment, never the file.

A file of ``total`` samples is cut into segments of ``length`` samples whose neighbours share
``overlap`` samples. Each segment is read with ``context`` extra samples on both sides, which
the model sees and which are then discarded, so the model's edge effects never reach the
output. Overlaps are crossfaded with linear ramps and every output sample is divided by the sum
of the weights that reached it (as demucs ``apply.py`` does), so the weights sum to one exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentConfig:
    """Segmentation in seconds.

    Attributes:
        seconds: Segment length (the part kept).
        overlap: Crossfade between neighbouring segments.
        context: Padding read on each side and discarded.
    """

    seconds: float = 8.0
    overlap: float = 0.5
    context: float = 0.25

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.overlap < 0 or self.context < 0:
            raise ValueError(
                "segment, overlap and context must be positive (overlap, context >= 0)"
            )
        if self.overlap >= self.seconds / 2:
            raise ValueError(
                f"overlap ({self.overlap} s) must be under half the segment ({self.seconds} s)"
            )

    def samples(self, rate: int) -> tuple[int, int, int]:
        """``(length, overlap, context)`` in samples at ``rate``."""
        return round(self.seconds * rate), round(self.overlap * rate), round(self.context * rate)


@dataclass(frozen=True)
class Segment:
    """One segment: keeps ``[start, stop)``, is read over ``[start - context, stop + context)``."""

    index: int
    start: int
    stop: int
    first: bool
    last: bool


def plan(total: int, length: int, overlap: int) -> list[Segment]:
    """Segments covering ``[0, total)``; the last one may be shorter but longer than ``overlap``."""
    assert 0 <= overlap < length, "overlap must be shorter than the segment"
    hop = length - overlap
    count = 1 if total <= length else -(-(total - overlap) // hop)
    return [
        Segment(k, k * hop, min(k * hop + length, total), k == 0, k == count - 1)
        for k in range(count)
    ]


def crossfade(seg: Segment, overlap: int) -> np.ndarray:
    """Weights for a segment's kept samples: ramps where it overlaps a neighbour.

    Shape:
        returns ``(seg.stop - seg.start,)``; ramp values lie strictly inside (0, 1).
    """
    weights = np.ones(seg.stop - seg.start)
    ramp = (np.arange(overlap) + 0.5) / overlap
    if not seg.first:
        weights[:overlap] = ramp
    if not seg.last:
        weights[len(weights) - overlap :] = ramp[::-1]
    return weights


def array_reader(audio: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """A ``read(start, stop)`` over an in-memory ``(C, T)`` array, zero outside it, for
    :func:`overlap_add` (files use :class:`~stemprover.audio.io.BlockReader`)."""

    def read(start: int, stop: int) -> np.ndarray:
        out = np.zeros((audio.shape[0], stop - start), dtype=audio.dtype)
        lo, hi = max(start, 0), min(stop, audio.shape[-1])
        out[:, lo - start : hi - start] = audio[:, lo:hi]
        return out

    return read


def overlap_add(
    read: Callable[[int, int], np.ndarray],
    process: Callable[[np.ndarray], np.ndarray],
    total: int,
    length: int,
    overlap: int,
    context: int,
    on_segment: Callable[[Segment], None] | None = None,
) -> Iterator[np.ndarray]:
    """Run ``process`` over a signal segment by segment and yield finished output in order.

    Args:
        read: ``read(start, stop)`` returns samples ``[start, stop)`` as ``(C, stop - start)``,
            zero outside the signal.
        process: Maps a ``(C, n)`` block to a ``(C, n)`` block.
        total: Signal length in samples.
        length, overlap, context: Segmentation in samples (see :class:`SegmentConfig`).
        on_segment: Called after each segment, for progress reporting.

    Yields:
        Consecutive ``(C, n)`` blocks whose lengths sum to ``total``.
    """
    pending: np.ndarray | None = None  # (C, overlap) weighted sum carried to the next segment
    pending_w: np.ndarray | None = None
    for seg in plan(total, length, overlap):
        block = read(seg.start - context, seg.stop + context)
        out = process(block)
        assert out.shape == block.shape, f"model changed block shape {block.shape} -> {out.shape}"
        kept = out[:, context : out.shape[1] - context]  # (C, stop - start)
        w = crossfade(seg, overlap)
        acc, acc_w = kept * w, w.copy()
        if pending is not None:
            acc[:, :overlap] += pending
            acc_w[:overlap] += pending_w
        keep = len(w) if seg.last else len(w) - overlap
        yield (acc[:, :keep] / acc_w[:keep]).astype(block.dtype, copy=False)
        pending, pending_w = acc[:, keep:], acc_w[keep:]
        if on_segment is not None:
            on_segment(seg)
