"""Song mode: the layouts users have (demucs, UVR, MUSDB, trees of songs), each cleaned with
one command; errors before the model loads; --consistent."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemprover.cli import main
from stemprover.songs import plan

STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A synthetic song folder: its four stems and mixture.wav (MUSDB style)."""
    out = tmp_path_factory.mktemp("songs") / "pairs"
    argv = ["pairs", "--out", str(out), "--synthetic", "1", "--seconds", "2", "--rate", "22050"]
    assert main([*argv, "--split", "test", "--seed", "5", "--producer", "mask", "-q"]) == 0
    (folder,) = (out / "songs").iterdir()
    return folder


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float64", always_2d=True)[0]


def _null(*argv: str) -> int:
    return main(["enhance", *argv, "--model", "null", "-q"])


def test_a_musdb_folder_uses_its_mixture_and_never_enhances_it(song, tmp_path):
    folder = shutil.copytree(song, tmp_path / "track")
    jobs = plan([folder], tmp_path / "out")
    assert sorted(j.src.stem for j in jobs) == sorted(STEMS)
    assert {j.mix for j in jobs} == {folder / "mixture.wav"}
    assert {j.stem_type for j in jobs} == set(STEMS)
    assert _null(str(folder), "-o", str(tmp_path / "out")) == 0
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == sorted(f"{s}.wav" for s in STEMS)  # no mixture.wav among the outputs
    np.testing.assert_allclose(
        _read(tmp_path / "out" / "drums.wav"), _read(folder / "drums.wav"), atol=1e-4
    )


def test_a_demucs_folder_with_its_song(song, tmp_path):
    folder = tmp_path / "separated" / "htdemucs" / "song"
    folder.mkdir(parents=True)
    for s in STEMS:
        shutil.copy(song / f"{s}.wav", folder / f"{s}.wav")
    mix = str(shutil.copy(song / "mixture.wav", tmp_path / "song.wav"))
    jobs = plan([folder], tmp_path / "cleaned", mix=Path(mix))
    assert {j.mix for j in jobs} == {Path(mix)} and len(jobs) == 4
    assert all(len(j.siblings) == 3 for j in jobs)  # the song's other stems
    template = "{song}/{stem}.{ext}"
    assert (
        _null(str(folder), "--mix", mix, "-o", str(tmp_path / "cleaned"), "--filename", template)
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "cleaned" / "song").iterdir()) == sorted(
        f"{s}.wav" for s in STEMS
    )
    # A re-run never enhances earlier outputs: x.enhanced.wav files, d_enhanced folders.
    shutil.copy(folder / "bass.wav", folder / "bass.enhanced.wav")
    assert len(plan([folder])) == 4
    assert _null(str(folder.parent)) == 0  # -> htdemucs_enhanced beside it
    assert len(plan([tmp_path / "separated"])) == 4  # not the 4 outputs again
    again = plan([tmp_path / "separated" / "htdemucs_enhanced"], tmp_path / "twice")
    assert len(again) == 4  # asked for by name: enhanced again


def test_a_uvr_pair_beside_its_song(song, tmp_path):
    folder = tmp_path / "uvr"
    folder.mkdir()
    vocals = _read(song / "vocals.wav")
    mixture = _read(song / "mixture.wav")
    sf.write(folder / "My Song_(Vocals).wav", vocals, 22050, subtype="FLOAT")
    sf.write(folder / "My Song_(Instrumental).wav", mixture - vocals, 22050, subtype="FLOAT")
    sf.write(folder / "My Song.wav", mixture, 22050, subtype="FLOAT")
    jobs = plan([folder], tmp_path / "out")
    assert sorted((j.src.name, j.stem_type) for j in jobs) == [
        ("My Song_(Instrumental).wav", "instrumental"),
        ("My Song_(Vocals).wav", "vocals"),
    ]
    assert {j.mix for j in jobs} == {folder / "My Song.wav"} and {j.song for j in jobs} == {
        "My Song"
    }
    assert _null(str(folder), "-o", str(tmp_path / "out"), "--format", "flac") == 0
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == ["My Song_(Instrumental).flac", "My Song_(Vocals).flac"]


def test_a_tree_of_songs_with_a_mixture_folder(song, tmp_path):
    root, mixes = tmp_path / "separated" / "htdemucs", tmp_path / "mixes"
    mixes.mkdir()
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for s in STEMS:
            shutil.copy(song / f"{s}.wav", root / name / f"{s}.wav")
        shutil.copy(song / "mixture.wav", mixes / f"{name}.wav")
    jobs = plan([root], tmp_path / "out", mix_dir=mixes)
    assert {(j.song, j.mix) for j in jobs} == {("a", mixes / "a.wav"), ("b", mixes / "b.wav")}
    assert _null(str(root), "--mix-dir", str(mixes), "-o", str(tmp_path / "out")) == 0
    assert len(list((tmp_path / "out").rglob("*.wav"))) == 8


def test_consistent_outputs_sum_to_the_mixture(song, tmp_path):
    folder = tmp_path / "track"
    folder.mkdir()
    shutil.copy(song / "mixture.wav", folder / "mixture.wav")
    for k, s in enumerate(STEMS):  # an imperfect separation: each stem off by its own gain
        sf.write(folder / f"{s}.wav", (0.8 + 0.1 * k) * _read(song / f"{s}.wav"), 22050, "FLOAT")
    mixture = _read(folder / "mixture.wav")
    before = sum(_read(folder / f"{s}.wav") for s in STEMS)
    assert np.abs(before - mixture).max() > 0.01
    assert _null(str(folder), "-o", str(tmp_path / "off")) == 0
    assert _null(str(folder), "-o", str(tmp_path / "on"), "--consistent") == 0
    after = sum(_read(tmp_path / "on" / f"{s}.wav") for s in STEMS)
    np.testing.assert_allclose(after, mixture, atol=1e-5)
    np.testing.assert_allclose(
        _read(tmp_path / "off" / "bass.wav"), _read(folder / "bass.wav"), atol=1e-4
    )


def test_consistent_refuses_a_song_with_a_stem_missing(song, tmp_path, capsys):
    folder = tmp_path / "track"
    folder.mkdir()
    for name in ("mixture", "vocals"):
        shutil.copy(song / f"{name}.wav", folder / f"{name}.wav")
    shutil.copy(song / "drums.wav", folder / "drums.wav")
    assert (
        main(
            ["enhance", str(folder), "-o", str(tmp_path / "on"), "--consistent", "--model", "null"]
        )
        == 0
    )
    assert "--consistent skipped" in capsys.readouterr().err
    np.testing.assert_allclose(
        _read(tmp_path / "on" / "vocals.wav"), _read(folder / "vocals.wav"), atol=1e-4
    )


def test_the_mixture_is_taken_as_it_comes(song, tmp_path):
    """Another rate, mono, and 10 ms longer: conformed, not refused."""
    import soxr

    from stemprover.audio import io
    from stemprover.audio.conform import conformed

    mixture = _read(song / "mixture.wav")
    other = soxr.resample(mixture.mean(axis=1), 22050, 16000)
    other = np.concatenate([other, np.zeros(160)])
    sf.write(tmp_path / "mix.wav", other, 16000, subtype="FLOAT")
    stem = io.probe(song / "vocals.wav")
    fitted = conformed(stem, io.probe(tmp_path / "mix.wav"), tmp_path)
    assert (fitted.sample_rate, fitted.channels, fitted.frames) == (
        22050,
        stem.channels,
        stem.frames,
    )
    assert (
        _null(
            str(song / "vocals.wav"),
            "--mix",
            str(tmp_path / "mix.wav"),
            "-o",
            str(tmp_path / "v.wav"),
        )
        == 0
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["missing.wav"], "file not found"),
        (["{stem}", "--mix", "{short}"], "does not fit the stem"),
        (["{stem}", "--device", "cuda"], "device 'cuda'"),
        (["{stem}", "--adapters", "bleed=nan"], "adapter weight"),
        (["{stem}", "--filename", "{nope}.wav", "-o", "{out}"], "--filename"),
    ],
)
def test_errors_arrive_before_the_model_loads(song, tmp_path, capsys, monkeypatch, argv, says):
    import stemprover.api

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(stemprover.api, "load_pipeline", never)
    short = tmp_path / "short.wav"
    sf.write(short, _read(song / "mixture.wav")[:5000], 22050)
    fields = {"stem": str(song / "vocals.wav"), "short": str(short), "out": str(tmp_path / "o")}
    argv = [a.format(**fields) if a.startswith("{") and a[1:-1] in fields else a for a in argv]
    if "missing.wav" in argv:
        argv = [str(tmp_path / "missing.wav")]
    if "cuda" in argv:
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    code = main(["enhance", *argv])
    assert code == 1 and says in capsys.readouterr().err


def test_report_shows_each_stem_before_after_and_removed(song, tmp_path):
    folder = shutil.copytree(song, tmp_path / "track")
    report = tmp_path / "report"
    args = [str(folder), "-o", str(tmp_path / "out"), "--report", str(report)]
    assert _null(*args) == 0
    page = (report / "report.html").read_text()
    for s in STEMS:
        assert f"{s}.wav" in page
    assert page.count("<audio") == 3 * len(STEMS)  # before, after, removed
    assert "little changed" in page  # the null model removes nothing, and says so
    assert "before</th><th>after" in page and "lost highs" in page
    assert len(list(report.glob("stem*.png"))) == len(STEMS)


@pytest.mark.parametrize("argv", [["--help"], ["enhance", "--help"], ["enhance", "MISSING"]])
def test_help_and_early_errors_do_not_import_torch(tmp_path, argv):
    import subprocess
    import sys

    argv = [str(tmp_path / "missing.wav") if a == "MISSING" else a for a in argv]
    code = (
        "import sys\nfrom stemprover.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "NO TORCH"
