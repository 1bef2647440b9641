import numpy as np
import pytest

from stemprover.audio.mel import mel_filterbank, mel_frequencies


@pytest.mark.parametrize(("rate", "n_fft", "n_mels"), [(44100, 2048, 64), (16000, 1024, 80)])
def test_filterbank_is_librosas(rate, n_fft, n_mels):
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(rate, n_fft, n_mels, fmin=20.0)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=20.0)
    np.testing.assert_allclose(ours, theirs, atol=1e-7)
    np.testing.assert_allclose(
        mel_frequencies(n_mels, 20.0, rate / 2),
        librosa.mel_frequencies(n_mels, fmin=20.0, fmax=rate / 2),
        rtol=1e-12,
    )


def test_filters_are_triangles_of_unit_area_in_hz():
    rate, n_fft = 16000, 4096
    fb = mel_filterbank(rate, n_fft, 40, fmin=20.0)
    hz_per_bin = rate / n_fft
    # Slaney normalisation: each triangle's area (in Hz) is 1.
    np.testing.assert_allclose(fb.sum(axis=1) * hz_per_bin, 1.0, rtol=0.02)
    assert (np.argmax(fb, axis=1)[1:] > np.argmax(fb, axis=1)[:-1]).all()
