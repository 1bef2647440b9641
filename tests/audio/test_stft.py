import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stemprover.audio.bands import BANDS, band_masks, bin_weights
from stemprover.audio.stft import StftConfig, compress, decompress, istft, stft


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(600, 5000),
    n_fft=st.sampled_from([256, 512, 1024]),
    hop_div=st.sampled_from([2, 4]),
    window=st.sampled_from(["hann", "hamming", "blackman"]),
)
def test_istft_inverts_stft(length, n_fft, hop_div, window):
    cfg = StftConfig(n_fft=n_fft, hop=n_fft // hop_div, window=window)
    x = torch.randn(2, 3, length, dtype=torch.float64)
    z = stft(x, cfg)
    assert z.shape == (2, 3, cfg.bins, length // cfg.hop + 1)
    torch.testing.assert_close(istft(z, cfg, length), x, atol=1e-10, rtol=0)


@pytest.mark.parametrize("alpha", [0.3, 0.5, 1.0])
def test_compression_keeps_phase_and_inverts(alpha):
    cfg = StftConfig(compress=alpha)
    z = torch.randn(4, 513, 20, dtype=torch.complex128)
    c = compress(z, cfg)
    torch.testing.assert_close(c.abs(), z.abs() ** alpha)
    torch.testing.assert_close(torch.angle(c), torch.angle(z))
    torch.testing.assert_close(decompress(c, cfg), z)


def test_compression_of_zero_is_zero():
    cfg = StftConfig(compress=0.5)
    z = torch.zeros(3, dtype=torch.complex64)
    assert torch.equal(decompress(compress(z, cfg), cfg), z)


@pytest.mark.parametrize(
    "bad", [dict(window="kaiser"), dict(hop=0), dict(hop=900), dict(compress=0)]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        StftConfig(**bad)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 192000])
def test_bands_partition_the_bins(rate):
    masks = band_masks(1024, rate)
    assert masks.shape == (len(BANDS), 513)
    assert (masks.sum(axis=0) == 1).all()
    freqs = np.fft.rfftfreq(1024, 1 / rate)
    mid = masks[[b.name for b in BANDS].index("mid")]
    assert freqs[mid].min() >= 500 and freqs[mid].max() < 2000


def test_bin_weights_sum_to_band_weights():
    assert sum(b.weight for b in BANDS) == pytest.approx(1.0)
    assert bin_weights(2048, 44100).sum() == pytest.approx(1.0)
