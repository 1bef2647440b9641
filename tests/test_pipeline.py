"""EnhancePipeline directly: one core for arrays and files, noise per input, the mixture
only for models that read it."""

import numpy as np
import pytest
import soundfile as sf
import torch

from stemprover.config import load_config
from stemprover.models.enhancer import StemProverModel
from stemprover.pipeline import EnhancePipeline


@pytest.fixture(scope="module")
def noisy_model():
    """A tiny model whose output depends on the noise (its last layer is not zero)."""
    torch.manual_seed(0)
    model = StemProverModel(load_config("tiny").model).eval()
    with torch.no_grad():
        model.denoiser.conv_out.weight.normal_(0, 0.1)
    return model


def test_arrays_and_files_go_through_the_same_core(noisy_model, noise_file, tmp_path):
    src = noise_file("in.wav", 2.0, 16000, 2, "FLOAT")
    pipe = EnhancePipeline(
        noisy_model, progress=False, sampling=noisy_model.sampling_options(steps=2, seed=3)
    )
    audio = sf.read(src, dtype="float32", always_2d=True)[0].T  # (C, T)
    in_memory = pipe(audio, 16000)
    pipe.enhance_file(src, tmp_path / "out.wav", clip_mode="none")  # FLOAT keeps all
    from_file = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)[0].T
    np.testing.assert_array_equal(in_memory, from_file)
    assert not np.allclose(in_memory, audio, atol=1e-3)  # the model did change it


def test_the_seed_is_an_argument_not_state(noisy_model):
    audio = 0.1 * np.random.default_rng(1).standard_normal((1, 16000)).astype(np.float32)

    def run(seed):
        sampling = noisy_model.sampling_options(steps=2, seed=seed)
        return EnhancePipeline(noisy_model, progress=False, sampling=sampling)(audio, 16000)

    a, b, c = run(1), run(2), run(1)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


class _Recorder:
    """A model that records whether it was given a mixture."""

    sample_rate = None

    def __init__(self, reads: bool) -> None:
        from stemprover.audio.stft import StftConfig

        self.stft, self.reads_mixture, self.seen = StftConfig(), reads, []

    def enhance(self, spec, mix=None):
        self.seen.append(mix is not None)
        return spec

    def to(self, device):
        return self


@pytest.mark.parametrize("reads", [True, False])
def test_the_mixture_goes_only_to_a_model_that_reads_it(reads):
    model = _Recorder(reads)
    audio = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
    out = EnhancePipeline(model, progress=False)(audio, 16000, mix=2 * audio)
    np.testing.assert_allclose(out, audio, atol=1e-5)
    assert model.seen and set(model.seen) == {reads}
