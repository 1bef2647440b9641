import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemprover.audio.chunking import SegmentConfig, array_reader, crossfade, overlap_add, plan


def _run(x: np.ndarray, length: int, overlap: int, context: int, process=lambda b: b):
    return np.concatenate(
        list(overlap_add(array_reader(x), process, x.shape[1], length, overlap, context)), 1
    )


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 3000),
    length=st.integers(8, 700),
    overlap_frac=st.floats(0, 0.49),
    context=st.integers(0, 50),
    channels=st.integers(1, 6),
)
def test_identity_overlap_add_is_lossless(total, length, overlap_frac, context, channels):
    overlap = int(length * overlap_frac)
    x = np.random.default_rng(total).standard_normal((channels, total))
    np.testing.assert_allclose(_run(x, length, overlap, context), x, atol=1e-12, rtol=0)


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 5000), length=st.integers(4, 500), overlap_frac=st.floats(0, 0.49))
def test_crossfades_sum_to_one(total, length, overlap_frac):
    overlap = int(length * overlap_frac)
    acc = np.zeros(total)
    segments = plan(total, length, overlap)
    for seg in segments:
        acc[seg.start : seg.stop] += crossfade(seg, overlap)
    np.testing.assert_allclose(acc, 1.0, atol=1e-12)
    assert segments[0].start == 0 and segments[-1].stop == total
    assert len(segments) == 1 or all(s.stop - s.start > overlap for s in segments)


def test_context_is_discarded():
    """A model that corrupts the first and last `context` samples leaves the output intact."""
    context = 16

    def corrupt_edges(block):
        out = block.copy()
        out[:, :context] = 99.0
        out[:, -context:] = -99.0
        return out

    x = np.random.default_rng(0).standard_normal((2, 1000))
    np.testing.assert_allclose(_run(x, 128, 32, context, corrupt_edges), x, atol=1e-12)


def test_segment_config_validates():
    with pytest.raises(ValueError):
        SegmentConfig(seconds=1.0, overlap=0.6)
    assert SegmentConfig(seconds=2.0, overlap=0.5, context=0.25).samples(1000) == (2000, 500, 250)
