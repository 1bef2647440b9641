"""The torch multichannel Wiener filter matches norbert's, the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stemprover.audio.mwf import multichannel_wiener


def _sources(channels: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = (4, channels, 33, 20)  # (J, C, F, N)
    src = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    src *= rng.uniform(0.1, 2.0, (4, channels, 1, 1))  # each source panned differently
    mags = np.abs(src) * rng.uniform(0.5, 1.5, shape)  # a separator's imperfect magnitudes
    return mags, src.sum(0)


@pytest.mark.parametrize("iterations", [0, 1, 2])
def test_matches_norbert_on_stereo(iterations):
    norbert = pytest.importorskip("norbert")
    mags, x = _sources(2)
    ref = norbert.wiener(
        mags.transpose(3, 2, 1, 0).copy(), x.transpose(2, 1, 0).copy(), iterations, False
    ).transpose(3, 2, 1, 0)  # (J, C, F, N)
    out = multichannel_wiener(torch.from_numpy(mags), torch.from_numpy(x), iterations, None)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-10)
    first = multichannel_wiener(torch.from_numpy(mags), torch.from_numpy(x), iterations)
    np.testing.assert_allclose(first.numpy(), ref[0], atol=1e-10)


def test_keeps_the_mixtures_dtype_and_batches():
    mags, x = _sources(2)
    m, xt = torch.from_numpy(mags).float(), torch.from_numpy(x).to(torch.complex64)
    one = multichannel_wiener(m, xt)
    assert one.dtype == torch.complex64 and one.shape == xt.shape
    both = multichannel_wiener(torch.stack([m, m * 2]), torch.stack([xt, xt]))
    torch.testing.assert_close(both[0], one)


def test_sources_sum_to_the_mixture():
    mags, x = _sources(2)
    y = multichannel_wiener(torch.from_numpy(mags), torch.from_numpy(x), 1, None)
    np.testing.assert_allclose(y.sum(0).numpy(), x, atol=1e-6)


def test_one_channel_is_the_power_share():
    mags, x = _sources(1)
    y = multichannel_wiener(torch.from_numpy(mags), torch.from_numpy(x), 1, None).numpy()
    # one EM step re-estimates v_j = |y_j|² with y_j = |S_j|·e^{i∠X}, and R_j ≈ 1
    share = mags**2 / (mags**2).sum(0)
    np.testing.assert_allclose(np.abs(y), share * np.abs(x), rtol=1e-4, atol=1e-9)


def test_filtering_band_by_band_gives_the_same_result():
    mags, x = _sources(2)
    m, xt = torch.from_numpy(mags), torch.from_numpy(x)
    whole = multichannel_wiener(m, xt, 1, None, bins_per_chunk=x.shape[-2])
    torch.testing.assert_close(multichannel_wiener(m, xt, 1, None, bins_per_chunk=5), whole)
