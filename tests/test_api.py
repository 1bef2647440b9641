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
    from stemprover.models.refiner import RefinerModel

    assert default_adapters("default") == "none"  # the refiner alone: its predictive stage
    assert isinstance(stemprover.load_model("default"), RefinerModel)
    assert default_adapters("latent") == "auto"  # the diffusion stage, with its adapters
    assert stemprover.load_model("latent").adapter_set.auto


def test_steps_and_adapters_on_the_refiner_run_the_diffusion_stage_after_it():
    from stemprover.models.enhancer import StemProverModel

    plain = stemprover.load_pipeline(stemprover.EnhanceOptions("default"))
    assert plain.then is None and not plain.auto_adapters
    staged = stemprover.load_pipeline(stemprover.EnhanceOptions("default", "auto", steps=1))
    assert isinstance(staged.then.model, StemProverModel) and staged.auto_adapters
    rng = np.random.default_rng(0)
    audio = 0.1 * rng.standard_normal((1, 44100)).astype(np.float32)
    mix = audio + 0.1 * rng.standard_normal((1, 44100)).astype(np.float32)
    first = plain(audio, 44100, mix=mix)
    both = staged(audio, 44100, mix=mix, stem="vocals")
    assert both.shape == audio.shape and not np.allclose(first, both)
    assert staged.last_adapters is not None


def test_enhance_reads_the_other_stems_with_the_mixture_and_checks_their_shape():
    rng = np.random.default_rng(1)
    stem, mix = (0.1 * rng.standard_normal((8000, 2)) for _ in range(2))
    others = [0.1 * rng.standard_normal((8000, 2)) for _ in range(3)]
    song = stemprover.enhance(stem, 16000, mix=mix, others=others)
    assert song.shape == stem.shape
    assert not np.allclose(song, stemprover.enhance(stem, 16000, mix=mix))  # they were read
    with pytest.raises(StemProverError, match="each of others must have the stem's shape"):
        stemprover.enhance(stem, 16000, mix=mix, others=[others[0][:4000]])


def test_enhance_song_cleans_a_songs_stems_together_as_the_cli_does():
    from stemprover.api import EnhanceOptions

    rng = np.random.default_rng(2)
    names = ("vocals", "drums", "bass", "other")
    stems = {k: (0.1 * rng.standard_normal((8000, 2))).astype(np.float32) for k in names}
    stems["bass"] = stems["bass"][:, :1].repeat(2, 1)
    mix = sum(stems.values())
    out = stemprover.enhance_song(stems, 16000, mix)
    assert list(out) == list(names)
    assert all(out[k].shape == (8000, 2) and out[k].dtype == np.float32 for k in names)
    # without the song filter each stem is what enhance gives it with the others
    alone = stemprover.enhance_song(stems, 16000, mix, EnhanceOptions(song_filter=False))
    others = [stems[k] for k in names[1:]]
    by_enhance = stemprover.enhance(stems["vocals"], 16000, mix=mix, others=others)
    np.testing.assert_allclose(alone["vocals"], by_enhance, atol=1e-6)
    assert np.abs(out["vocals"] - alone["vocals"]).max() > 1e-4  # the filter changed it
    with pytest.raises(StemProverError, match="two or more stems"):
        stemprover.enhance_song({"vocals": stems["vocals"]}, 16000, mix)
    with pytest.raises(StemProverError, match="unknown song filter 'loud'"):
        stemprover.enhance_song(stems, 16000, mix, EnhanceOptions(song_filter="loud"))
    with pytest.raises(StemProverError, match="the mixture's shape"):
        stemprover.enhance_song({**stems, "bass": stems["bass"][:4000]}, 16000, mix)
