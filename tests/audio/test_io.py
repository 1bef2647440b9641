import numpy as np
import pytest
import soundfile as sf

from stemprover.audio import io
from stemprover.errors import StemProverError


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [
        ("wav", "PCM_16"),
        ("wav", "PCM_24"),
        ("wav", "PCM_32"),
        ("wav", "FLOAT"),
        ("wav", "DOUBLE"),
        ("flac", "PCM_16"),
        ("flac", "PCM_24"),
        ("aiff", "PCM_16"),
        ("ogg", "VORBIS"),
    ],
)
def test_read_write_round_trip_keeps_samples(tmp_path, fmt, subtype):
    src = tmp_path / f"a.{fmt}"
    sf.write(src, np.random.default_rng(0).uniform(-0.9, 0.9, (3000, 2)), 32000, subtype=subtype)
    info = io.probe(src)
    audio, _ = io.read(src, info.compute_dtype)
    assert audio.shape == (2, 3000)
    dst = io.write(tmp_path / f"b.{fmt}", audio, info.sample_rate, info.subtype)
    back, out_info = io.read(dst, "float64")
    assert (out_info.subtype, out_info.frames, out_info.sample_rate) == (subtype, 3000, 32000)
    if subtype != "VORBIS":  # lossy: only the header is comparable
        np.testing.assert_array_equal(back, io.read(src, "float64")[0])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "PCM_U8"])
def test_integer_writes_round_to_nearest_and_clip(tmp_path, subtype):
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "PCM_U8": 8}[subtype]
    lsb = 2.0 ** (1 - bits)
    x = np.array([[100 * lsb + 0.3 * lsb, 100 * lsb - 0.3 * lsb, -3 * lsb - 0.4 * lsb, 1.5, -1.5]])
    path = io.write(tmp_path / "q.wav", x, 8000, subtype)
    got = sf.read(path, dtype="float64")[0] / lsb
    np.testing.assert_array_equal(got, [100, 100, -3, 2 ** (bits - 1) - 1, -(2 ** (bits - 1))])


def test_no_overwrite_without_permission(tmp_path):
    path = io.write(tmp_path / "x.wav", np.zeros((1, 100)), 8000)
    with pytest.raises(StemProverError, match="overwrite"):
        io.write(path, np.ones((1, 100)), 8000)
    io.write(path, np.full((1, 100), 0.5), 8000, overwrite=True)
    assert sf.read(path)[0][0] == pytest.approx(0.5, abs=1e-4)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), io.AtomicWriter(tmp_path / "x.wav", 8000, 1) as w:
        w.write(np.zeros((1, 10)))
        raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []


def _truncated(path):
    sf.write(path, np.zeros((4000, 1)), 8000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("definitely not audio " * 20), "not a readable audio file"),
        (_truncated, "truncated"),
        (lambda p: sf.write(p, np.zeros(100), 4000), "unsupported sample rate"),
    ],
)
def test_probe_refuses_bad_files(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(StemProverError, match=message) as err:
        io.probe(path)
    assert str(path) in str(err.value)


def test_nan_samples_are_refused_when_read(tmp_path):
    x = np.zeros((1000, 1), dtype=np.float32)
    x[500] = np.nan
    sf.write(tmp_path / "n.wav", x, 8000, subtype="FLOAT")
    with pytest.raises(StemProverError, match="NaN or Inf"):
        io.read(tmp_path / "n.wav")


def test_block_reader_pads_with_zeros(tmp_path):
    sf.write(tmp_path / "r.wav", np.arange(1, 11, dtype=np.float64) / 16, 8000, subtype="DOUBLE")
    info = io.probe(tmp_path / "r.wav")
    with io.BlockReader(info, "float64") as r:
        block = r.read(-3, 4)
    np.testing.assert_array_equal(block[0], [0, 0, 0, 1 / 16, 2 / 16, 3 / 16, 4 / 16])


def test_float_wav_reads_what_read_reads_and_only_float_wavs(tmp_path):
    x = np.random.default_rng(0).standard_normal((3000, 2)).astype(np.float32)
    io.write(tmp_path / "f.wav", x.T, 8000, "FLOAT")
    whole, info = io.read(tmp_path / "f.wav")
    wav = io.FloatWav.open(info)
    assert wav is not None and wav.shape == whole.shape == (2, 3000)
    np.testing.assert_array_equal(wav.read(100, 2000), whole[:, 100:2000])
    np.testing.assert_array_equal(wav[[1, 0, 1], 2990:3010], whole[[1, 0, 1], 2990:])
    np.testing.assert_array_equal(wav[1, :5], whole[1, :5])
    np.testing.assert_array_equal(np.asarray(wav), whole)
    sf.write(tmp_path / "i.wav", x, 8000, subtype="PCM_16")
    sf.write(tmp_path / "d.wav", x, 8000, subtype="DOUBLE")
    sf.write(tmp_path / "f.flac", x, 8000, subtype="PCM_16")
    for name in ("i.wav", "d.wav", "f.flac"):
        assert io.FloatWav.open(io.probe(tmp_path / name)) is None, name


def test_float_wav_refuses_nan_where_it_reads(tmp_path):
    x = np.zeros((1000, 1), dtype=np.float32)
    x[500] = np.inf
    sf.write(tmp_path / "n.wav", x, 8000, subtype="FLOAT")
    wav = io.FloatWav.open(io.probe(tmp_path / "n.wav"))
    assert wav.read(0, 400).shape == (1, 400)  # the samples before it are fine
    with pytest.raises(StemProverError, match="NaN or Inf"):
        wav.read(400, 600)
    (tmp_path / "n.wav").unlink()
    with pytest.raises(StemProverError, match="cannot read"):
        wav.read(0, 10)
