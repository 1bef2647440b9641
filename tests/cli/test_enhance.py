"""The enhance path end to end through cli.main with the null model (the null test)."""

import numpy as np
import pytest
import soundfile as sf

from stemprover.cli import main


@pytest.mark.parametrize(
    ("seconds", "rate", "channels", "subtype", "tol"),
    [
        (7.0, 22050, 1, "PCM_16", 0.0),
        (3.0, 44100, 6, "PCM_24", 0.0),
        (2.5, 48000, 2, "FLOAT", 1e-4),
        (1.3, 8000, 3, "PCM_32", 0.0),
        (0.9, 96000, 2, "DOUBLE", 1e-9),
    ],
)
def test_null_model_gives_back_the_input(
    noise_file, tmp_path, seconds, rate, channels, subtype, tol
):
    src = noise_file("song.wav", seconds, rate, channels, subtype)
    assert main(["enhance", str(src), "--model", "null", "-o", str(tmp_path / "out"), "-q"]) == 0
    out = tmp_path / "out" / "song.wav"
    a, b = sf.info(src), sf.info(out)
    assert (b.samplerate, b.channels, b.frames, b.subtype) == (
        a.samplerate,
        a.channels,
        a.frames,
        a.subtype,
    )
    x, y = sf.read(src, dtype="float64")[0], sf.read(out, dtype="float64")[0]
    assert np.abs(x - y).max() <= tol


def test_segments_shorter_than_the_file(noise_file, tmp_path):
    src = noise_file("s.flac", 5.0, 16000, 2, "PCM_16")
    out = tmp_path / "o.flac"
    assert (
        main(
            [
                "enhance",
                "--model",
                "null",
                str(src),
                "-o",
                str(out),
                "--segment",
                "1.1",
                "--overlap",
                "0.3",
                "-q",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(sf.read(out, dtype="int16")[0], sf.read(src, dtype="int16")[0])


def test_subtype_can_be_changed(noise_file, tmp_path):
    src = noise_file("s.wav", 1.0, 16000, 1, "PCM_16")
    assert (
        main(
            [
                "enhance",
                "--model",
                "null",
                str(src),
                "-o",
                str(tmp_path / "o.wav"),
                "--subtype",
                "FLOAT",
                "-q",
            ]
        )
        == 0
    )
    assert sf.info(tmp_path / "o.wav").subtype == "FLOAT"


def test_folder_in_folder_out_with_a_bad_file(noise_file, tmp_path, capsys):
    noise_file("in/a.wav", 1.0, 16000, 1)
    noise_file("in/sub/b.flac", 1.0, 16000, 2)
    (tmp_path / "in" / "sub" / "broken.wav").write_bytes(b"RIFF....garbage")
    code = main(
        ["enhance", "--model", "null", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.wav" in err and "1 of 3 files failed" in err
    made = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert made == ["a.wav", "sub", "sub/b.flac"]


def test_default_output_is_beside_the_input(noise_file):
    src = noise_file("v.wav", 1.0, 16000, 1)
    assert main(["enhance", "--model", "null", str(src), "-q"]) == 0
    assert (src.parent / "v.enhanced.wav").exists()


def test_existing_output_needs_overwrite(noise_file, tmp_path, capsys):
    src = noise_file("v.wav", 1.0, 16000, 1)
    out = tmp_path / "o.wav"
    out.write_bytes(b"keep me")
    assert main(["enhance", "--model", "null", str(src), "-o", str(out), "-q"]) == 1
    assert out.read_bytes() == b"keep me"
    assert "--overwrite" in capsys.readouterr().err
    assert main(["enhance", "--model", "null", str(src), "-o", str(out), "-q", "--overwrite"]) == 0
    assert sf.info(out).frames == 16000


def _nan_file(path):
    x = np.zeros((8000, 1), dtype=np.float32)
    x[4000] = np.inf
    sf.write(path, x, 8000, subtype="FLOAT")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("not audio at all " * 30), "not a readable audio file"),
        (
            lambda p: (
                sf.write(p, np.zeros((40000, 1)), 8000),
                p.write_bytes(p.read_bytes()[:30000]),
            ),
            "truncated",
        ),
        (_nan_file, "NaN or Inf"),
        (lambda p: sf.write(p, np.zeros(300), 8000), "shorter than one STFT frame"),
        (lambda p: sf.write(p, np.zeros(30000), 6000), "unsupported sample rate"),
    ],
)
def test_bad_input_one_line_nonzero_no_output(tmp_path, capsys, make, problem):
    src = tmp_path / "bad.wav"
    make(src)
    out_dir = tmp_path / "out"
    assert main(["enhance", "--model", "null", str(src), "-o", str(out_dir), "-q"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert any(str(src) in line and problem in line for line in lines), lines
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_output_inside_input_folder_is_refused(noise_file, tmp_path, capsys):
    noise_file("in/a.wav", 1.0, 16000, 1)
    assert (
        main(
            [
                "enhance",
                "--model",
                "null",
                str(tmp_path / "in"),
                "-o",
                str(tmp_path / "in" / "out"),
                "-q",
            ]
        )
        == 1
    )
    assert "inside the input folder" in capsys.readouterr().err
    assert not (tmp_path / "in" / "out").exists()


def test_output_replacing_input_is_refused(noise_file, capsys):
    src = noise_file("a.wav", 1.0, 16000, 1)
    assert main(["enhance", "--model", "null", str(src), "-o", str(src), "--overwrite", "-q"]) == 1
    assert "replace the input" in capsys.readouterr().err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and "stemprover" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["enhance", "--model", "null", "--help"])
    assert e.value.code == 0 and "--overwrite" in capsys.readouterr().out


class _MixtureEcho:
    """Returns the mixture it is given: the output file must then be the mixture itself."""

    sample_rate = 44100
    reads_mixture = True

    def __init__(self):
        from stemprover.audio.stft import StftConfig

        self.stft = StftConfig(n_fft=1024, hop=256, compress=0.5)

    def enhance(self, spec, mix=None):
        assert mix is not None and mix.shape == spec.shape
        return mix

    def to(self, device):
        return self


def test_mixture_is_aligned_through_segments_and_resampling(noise_file, tmp_path):
    """The mixture travels with each segment (context, crossfades, resampling to the model's
    rate and back) exactly as the stem does."""
    from stemprover.audio.chunking import SegmentConfig
    from stemprover.batch import enhance_paths
    from stemprover.models.base import NullModel
    from stemprover.pipeline import EnhancePipeline

    stem = noise_file("stem.wav", 3.0, 22050, 2, "FLOAT", seed=1)
    mix = noise_file("mix.wav", 3.0, 22050, 2, "FLOAT", seed=2)
    pipe = EnhancePipeline(_MixtureEcho(), SegmentConfig(1.0, 0.25), "cpu", progress=False)
    out = tmp_path / "out.wav"
    batch = enhance_paths(pipe, [stem], out, mix=mix)
    assert not batch.failed
    y = sf.read(out, dtype="float64")[0]
    # What the identity at the model's rate makes of the mixture given as the input.
    null = NullModel(_MixtureEcho().stft)
    null.sample_rate = _MixtureEcho.sample_rate
    alone = tmp_path / "alone.wav"
    EnhancePipeline(null, SegmentConfig(1.0, 0.25), "cpu", progress=False).enhance_file(mix, alone)
    np.testing.assert_array_equal(y, sf.read(alone, dtype="float64")[0])
    m = sf.read(mix, dtype="float64")[0]
    assert np.abs(y - m).max() < 0.1  # near the mixture, not the stem; resampling is lossy
    assert np.abs(y - sf.read(stem, dtype="float64")[0]).max() > 0.3
    in_memory = pipe(sf.read(stem, dtype="float64")[0].T, 22050, mix=m.T)
    np.testing.assert_allclose(in_memory.T, y, atol=1e-6)


def test_a_mixture_too_far_off_is_refused_and_one_mixture_serves_several_stems(
    noise_file, tmp_path, capsys
):
    stem = noise_file("stem.wav", 2.0, 22050, 1)
    short = noise_file("short.wav", 1.5, 22050, 1)
    args = ["enhance", "--model", "null", "-q"]
    assert main([*args, str(stem), "-o", str(tmp_path / "a.wav"), "--mix", str(short)]) == 1
    err = capsys.readouterr().err
    assert "does not fit the stem" in err and "1.500 s" in err and "2.000 s" in err
    assert not (tmp_path / "a.wav").exists()
    other = noise_file("other.wav", 2.0, 22050, 1)
    same = noise_file("same.wav", 2.0, 22050, 1, seed=3)
    assert main([*args, str(stem), str(other), "-o", str(tmp_path / "o"), "--mix", str(same)]) == 0
    assert (tmp_path / "o" / "stem.wav").exists() and (tmp_path / "o" / "other.wav").exists()
    assert main([*args, str(stem), "-o", str(tmp_path / "b.wav"), "--mix", str(same)]) == 0
    np.testing.assert_array_equal(sf.read(tmp_path / "b.wav")[0], sf.read(stem)[0])


def test_enhance_stem_choices_are_the_stem_types():
    from stemprover.cli import build_parser
    from stemprover.vocabulary import SEPARATED_STEMS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    stem = next(a for a in sub.choices["enhance"]._actions if a.dest == "stem")
    assert tuple(stem.choices) == ("auto", "unknown", *SEPARATED_STEMS)


def test_models_says_what_each_model_and_adapter_is_for(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "null (built-in)" in out and "default (bundled)" in out and "MB)" in out
    assert "trained on: " in out and "adapter hf_loss-drums: removes lost highs on drums" in out
