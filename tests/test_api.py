"""The Python front door: arrays as soundfile gives them, and files."""

import numpy as np
import pytest
import soundfile as sf

import stemprover
from stemprover.api import EnhanceOptions
from stemprover.errors import StemProverError

NULL = EnhanceOptions(model="null")


@pytest.mark.parametrize("shape", [(16000,), (16000, 2), (12345, 3)])
def test_enhance_keeps_soundfiles_shape_and_dtype(shape):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)
    y = stemprover.enhance(x, 16000, mix=2 * x, stem_type="vocals", options=NULL)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_allclose(y, x, atol=1e-6)  # the null model gives the input back


@pytest.mark.parametrize(
    ("audio", "says"),
    [
        (np.zeros((2, 44100)), "channels"),  # (channels, samples): the usual mistake
        (np.zeros((1, 2, 3)), "shape"),
        (np.zeros(0), "shape"),
        (np.zeros(100, dtype=np.int16), "float"),
        (np.full(100, np.nan), "NaN"),
    ],
)
def test_wrong_arrays_get_a_clear_error(audio, says):
    with pytest.raises(StemProverError, match=says):
        stemprover.enhance(audio, 44100, options=NULL)


def test_a_mixture_of_another_shape_is_refused():
    with pytest.raises(StemProverError, match="must match"):
        stemprover.enhance(np.zeros((1000, 2)), 16000, mix=np.zeros(1000), options=NULL)


def test_enhance_files_reports_each_file_as_it_finishes(noise_file, tmp_path):
    a, b = noise_file("d/a.wav", 1.0), noise_file("d/b.wav", 1.0)
    seen = []
    batch = stemprover.enhance_files(
        [a.parent], tmp_path / "out", NULL, progress=False, on_file=seen.append
    )
    assert [f.input for f in seen] == [a, b] == [f.input for f in batch.files]
    for f in batch.files:
        np.testing.assert_array_equal(sf.read(f.output)[0], sf.read(f.input)[0])


def test_load_model_default_is_what_the_cli_runs():
    from stemprover.models.base import default_adapters

    assert default_adapters("default") == "auto"
    model = stemprover.load_model("default")
    assert model.adapter_set.auto  # the bundled adapters, weighted per file
