"""Nothing lost, ever: the adversarial reproductions of issue 24, each run on tiny files.

Each test asserts that the user's files survive, the exit code, and the one-line message.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemprover import outputs
from stemprover.audio import io
from stemprover.cli import main
from stemprover.errors import StemProverError


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("stemprover: error")]
    assert lines, err
    assert "Traceback" not in err
    return lines[0]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.fixture
def song(noise_file, tmp_path):
    """A stem, its mixture and an unrelated file, with their bytes for comparison."""
    stem = noise_file("stem.wav", 1.0, 16000, 1, "PCM_16", seed=1)
    mix = noise_file("mix.wav", 1.0, 16000, 1, "PCM_16", seed=2)
    return stem, mix, {p: p.read_bytes() for p in (stem, mix)}


def _intact(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, f"{path} was changed"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rel")
    out = root / "X" / "data" / "pairs"
    argv = ["pairs", "--out", str(out), "--synthetic", "1", "--seconds", "1.0"]
    assert main([*argv, "--rate", "16000", "--split", "test", "--seed", "3", "-q"]) == 0
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- 1-4: data loss ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_analyze_never_writes_over_its_input(song, capsys, flag):
    stem, _, files = song
    code, err = _run(capsys, "analyze", str(stem), flag, str(stem), "--overwrite")
    assert code == 1 and "refusing to write here" in _one_line(err)
    _intact(files)


def test_analyze_never_writes_over_the_mixture(song, capsys):
    stem, mix, files = song
    code, err = _run(capsys, "analyze", str(stem), "--mix", str(mix), "--json", str(mix))
    assert code == 1 and "refusing to write here" in _one_line(err)
    _intact(files)


def test_analyze_replaces_a_report_only_with_overwrite(song, tmp_path, capsys):
    stem, _, _ = song
    report = tmp_path / "report.json"
    report.write_text("mine")
    argv = ["analyze", str(stem), "--json", str(report), "--detector", "heuristic"]
    code, err = _run(capsys, *argv)
    assert code == 1 and "output exists" in _one_line(err) and report.read_text() == "mine"
    assert main([*argv, "--overwrite"]) == 0
    assert "artifacts" in json.loads(report.read_text())


def test_evaluate_overwrite_never_deletes_the_pairs(pairs, capsys):
    before = _snapshot(pairs)
    argv = ["evaluate", "--pairs", str(pairs), "--split", "all", "--systems", "input"]
    code, err = _run(capsys, *argv, "--out", str(pairs), "--overwrite", "-q")
    assert code == 1 and "refusing to write here" in _one_line(err)
    assert _snapshot(pairs) == before


def test_evaluate_overwrite_replaces_only_its_own_files(pairs, capsys):
    x = pairs.parent.parent  # X holds data/pairs
    (x / "notes.txt").write_text("keep me")
    before = _snapshot(pairs)
    argv = ["evaluate", "--pairs", str(pairs), "--split", "all", "--systems", "input", "-q"]
    assert main([*argv, "--out", str(x), "--overwrite"]) == 0
    assert main([*argv, "--out", str(x), "--overwrite"]) == 0  # a second run replaces its own
    assert (x / "notes.txt").read_text() == "keep me"
    assert _snapshot(pairs) == before
    assert (x / "metrics.json").exists() and (x / "report.html").exists()
    code, err = _run(capsys, *argv, "--out", str(x))
    assert code == 1 and "--overwrite" in _one_line(err)


def test_enhance_never_replaces_the_mixture(song, capsys):
    stem, mix, files = song
    argv = ["enhance", str(stem), "--mix", str(mix), "-o", str(mix), "--overwrite"]
    code, err = _run(capsys, *argv, "--model", "null", "-q")
    assert code == 1 and "refusing to write here" in err and "Traceback" not in err
    _intact(files)


def test_a_name_taken_meanwhile_is_never_replaced(tmp_path):
    """The existence check at the start is not enough: the name is claimed at the end."""
    dst = tmp_path / "take.wav"
    with (
        pytest.raises(StemProverError, match="output exists") as caught,
        io.AtomicWriter(dst, 8000, 1) as writer,
    ):
        writer.write(np.zeros((1, 100)))
        io.write(dst, np.full((1, 50), 0.5), 8000)  # another run finishes first
    assert caught.value.path == str(dst)
    assert sf.read(dst)[0].shape == (50,)  # the other run's file, whole
    assert _hidden(tmp_path) == []


ENHANCE = [sys.executable, "-m", "stemprover", "enhance"]


def test_two_concurrent_runs_into_one_folder_lose_nothing(tmp_path, noise_file):
    a = noise_file("A/take.wav", 1.0, 16000, 1, "PCM_16", seed=1)
    b = noise_file("B/take.wav", 1.0, 16000, 1, "PCM_16", seed=2)
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [*ENHANCE, str(src), "-o", str(out), "--model", "null", "-q"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in (a, b)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "output exists" in loser and str(out / "take.wav") in loser
    written = (out / "take.wav").read_bytes()[44:]
    assert written in (a.read_bytes()[44:], b.read_bytes()[44:])  # one whole input, not a mix
    assert _hidden(out) == []


# -- 5-7: garbage with exit 0 --------------------------------------------------------------


@pytest.mark.parametrize("spec", ["bleed=nan", "bleed=inf", "bleed=1e9", "bleed=-1", "a,a", ""])
def test_meaningless_adapter_weights_are_refused_before_work(song, tmp_path, capsys, spec):
    stem, _, _ = song
    out = tmp_path / "o.wav"
    code, err = _run(capsys, "enhance", str(stem), "-o", str(out), "--adapters", spec, "-q")
    assert code == 1 and "adapter" in _one_line(err)
    assert not out.exists()


def test_null_model_with_adapters_is_refused(song, tmp_path, capsys):
    stem, _, _ = song
    out = tmp_path / "o.wav"
    argv = ["enhance", str(stem), "-o", str(out), "--model", "null", "--adapters", "bleed"]
    code, err = _run(capsys, *argv)
    assert code == 1 and "no adapters" in _one_line(err) and not out.exists()


def _sigterm_on_second_segment(monkeypatch):
    from stemprover.models.base import NullModel

    calls = []

    def enhance(self, spec, mix=None):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return spec

    monkeypatch.setattr(NullModel, "enhance", enhance)


def test_sigterm_mid_write_leaves_nothing_behind(noise_file, tmp_path, capsys, monkeypatch):
    src = noise_file("long.wav", 3.0, 16000, 1, "PCM_16")
    out = tmp_path / "out"
    _sigterm_on_second_segment(monkeypatch)
    argv = [
        "enhance",
        str(src),
        "-o",
        str(out),
        "--model",
        "null",
        "--segment",
        "0.5",
        "--overlap",
        "0.1",
        "-q",
    ]
    code, err = _run(capsys, *argv)
    assert code == 143 and "terminated" in _one_line(err)
    assert not (out / "long.wav").exists() and _hidden(out) == []


_SLOW_RUN = """
import sys, time
from pathlib import Path
from stemprover.models.base import NullModel
from stemprover.cli import main

def enhance(self, spec, mix=None):
    Path(sys.argv[1]).touch()  # mid-write: the partial file exists now
    time.sleep(60)
    return spec

NullModel.enhance = enhance
sys.exit(main(["enhance", sys.argv[2], "-o", sys.argv[3], "--model", "null", "-q"]))
"""


def test_a_killed_runs_partial_file_is_cleaned_by_the_next_run(noise_file, tmp_path):
    src = noise_file("take.wav", 1.0, 16000, 1, "PCM_16")
    out, marker = tmp_path / "out", tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SLOW_RUN), str(marker), str(src), str(out)]
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), "the run never reached its first segment"
    proc.kill()  # kill -9: no handler runs
    proc.wait(timeout=30)
    assert len(_hidden(out)) == 1  # the partial file it could not remove
    assert main(["enhance", str(src), "-o", str(out), "--model", "null", "-q"]) == 0
    assert _hidden(out) == [] and (out / "take.wav").exists()


def test_temporary_files_of_running_processes_are_left_alone(tmp_path):
    mine = tmp_path / f".x.wav.{os.getpid()}.abc.partial.wav"
    mine.write_bytes(b"")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=-1)
    stale = tmp_path / f".y.wav.{int(dead.stdout)}.abc.partial.wav"
    stale.write_bytes(b"")
    assert outputs.clean_stale(tmp_path) == [stale]
    assert mine.exists() and not stale.exists()


def test_evaluate_refuses_a_reference_at_another_rate(pairs, tmp_path, capsys):
    copy = tmp_path / "pairs"
    shutil.copytree(pairs, copy)
    rec = json.loads((copy / "manifest.jsonl").read_text().splitlines()[0])
    est = copy / rec["artifacted"]
    x, rate = sf.read(est)
    sf.write(est, x, 48000 if rate != 48000 else 44100)
    argv = ["evaluate", "--pairs", str(copy), "--split", "all", "--systems", "input", "-q"]
    code, err = _run(capsys, *argv, "--out", str(tmp_path / "ev"))
    assert code == 1 and "sample rate" in _one_line(err) and rec["artifacted"] in err
    assert not (tmp_path / "ev").exists()


def test_a_silent_reference_is_not_counted_as_scored(pairs, tmp_path, capsys):
    copy = tmp_path / "pairs"
    shutil.copytree(pairs, copy)
    records = [json.loads(line) for line in (copy / "manifest.jsonl").read_text().splitlines()]
    ref = copy / records[0]["clean"]
    x, rate = sf.read(ref)
    sf.write(ref, np.zeros_like(x), rate, subtype="FLOAT")
    argv = ["evaluate", "--pairs", str(copy), "--split", "all", "--systems", "input"]
    assert main([*argv, "--out", str(tmp_path / "ev"), "-q"]) == 0
    summary = json.loads((tmp_path / "ev" / "metrics.json").read_text())["summary"]
    silent = sum(r["clean"] == records[0]["clean"] for r in records)
    assert summary["all"]["input"]["n"] == len(records) - silent
    assert summary["all"]["input"]["si_sdr_missing"] == silent
    assert "unscored" in capsys.readouterr().out


@pytest.mark.parametrize("length", [1, 0])
def test_analyze_refuses_one_sample_and_silence(tmp_path, capsys, length):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(16000) if length == 0 else np.array([0.5]), 16000)
    code, err = _run(capsys, "analyze", str(path), "--detector", "heuristic")
    assert code == 1
    assert ("too short" if length else "digital silence") in _one_line(err)


# -- 8-11: tracebacks -> one line ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from stemprover.config import load_config
    from stemprover.models.enhancer import StemProverModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model") / "tiny"
    return StemProverModel(load_config("tiny").model).save(folder)


def test_steps_the_scheduler_cannot_take_are_refused_before_work(song, tiny_model, capsys):
    stem, _, _ = song
    argv = ["enhance", str(stem), "--model", str(tiny_model), "--steps", "5000", "-q"]
    code, err = _run(capsys, *argv)
    assert code == 1 and "--steps 5000" in _one_line(err) and "at most" in err
    assert not stem.with_name("stem.enhanced.wav").exists()


@pytest.mark.parametrize(
    ("config", "says"),
    [("[]", "JSON object"), ("null", "JSON object"), ("{", "unreadable"), ("widths", "match")],
)
def test_broken_model_folders_are_one_line(song, tiny_model, tmp_path, capsys, config, says):
    stem, _, _ = song
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    if config == "widths":
        meta = json.loads((folder / "config.json").read_text())
        meta["config"]["denoiser"]["block_out_channels"] = [
            2 * c for c in meta["config"]["denoiser"]["block_out_channels"]
        ]
        (folder / "config.json").write_text(json.dumps(meta))
    else:
        (folder / "config.json").write_text(config)
    code, err = _run(capsys, "enhance", str(stem), "--model", str(folder), "-q")
    assert code == 1 and says in _one_line(err)


def test_a_broken_adapter_json_is_one_line(song, tiny_model, tmp_path, capsys):
    stem, _, _ = song
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    (folder / "adapters" / "bleed").mkdir(parents=True)
    (folder / "adapters" / "bleed" / "adapter.json").write_text("{not json")
    code, err = _run(capsys, "enhance", str(stem), "--model", str(folder), "--adapters", "bleed")
    assert code == 1 and "adapter.json" in _one_line(err)


def test_a_folder_that_refuses_writes_is_one_line(song, tmp_path, capsys, monkeypatch):
    stem, _, files = song

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro"))

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)
    argv = ["analyze", str(stem), "--json", str(tmp_path / "ro" / "r.json")]
    code, err = _run(capsys, *argv, "--detector", "heuristic")
    assert code == 1 and "Permission denied" in _one_line(err)
    _intact(files)


def test_a_full_disk_says_so(tmp_path, monkeypatch):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(io.shutil, "disk_usage", lambda p: usage(100, 100, 0))

    def fail(self, data):
        raise sf.LibsndfileError(0, "System error.")

    monkeypatch.setattr(sf.SoundFile, "write", fail)
    with pytest.raises(StemProverError, match="disk is full"):
        io.write(tmp_path / "x.wav", np.zeros((1, 10)), 8000)
    assert _hidden(tmp_path) == [] and not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("damage", ["short", "mono", "manifest"])
def test_malformed_pairs_are_one_line(pairs, tmp_path, capsys, damage):
    copy = tmp_path / "pairs"
    shutil.copytree(pairs, copy)
    manifest = copy / "manifest.jsonl"
    rec = json.loads(manifest.read_text().splitlines()[0])
    ref = copy / rec["clean"]
    x, rate = sf.read(ref, always_2d=True)
    if damage == "short":
        sf.write(ref, x[: len(x) // 2], rate, subtype="FLOAT")
    elif damage == "mono":
        sf.write(ref, x[:, :1] if x.shape[1] > 1 else np.column_stack([x, x]), rate, "FLOAT")
    else:
        manifest.write_text(manifest.read_text() + "{broken\n")
    argv = ["evaluate", "--pairs", str(copy), "--split", "all", "--systems", "input", "-q"]
    code, err = _run(capsys, *argv, "--out", str(tmp_path / "ev"))
    assert code == 1
    line = _one_line(err)
    assert ("line" in line) if damage == "manifest" else ("reference" in line)


def test_an_all_zero_estimate_is_scored(pairs, tmp_path):
    from stemprover.evaluation.run import EvalConfig, evaluate

    cfg = EvalConfig(pairs, ("input", "zeros"), "all", limit=2, examples=0)
    summary = evaluate(cfg, tmp_path / "ev", {"zeros": lambda x, r, **k: 0 * x}, progress=False)
    assert np.isfinite(summary["all"]["zeros"]["sdr"])


# -- 12: smaller ---------------------------------------------------------------------------


def test_output_file_names_with_several_inputs_or_no_audio_suffix(song, tmp_path, capsys):
    stem, mix, _ = song
    for argv in (
        [str(stem), "-o", str(tmp_path / "out" / "x.mp4")],
        [str(stem), str(mix), "-o", str(tmp_path / "single.wav")],
    ):
        code, err = _run(capsys, "enhance", *argv, "--model", "null", "-q")
        assert code == 1 and "Traceback" not in err
        assert not (tmp_path / "out").exists() and not (tmp_path / "single.wav").exists()


def test_adapter_sidecar_is_kept_without_overwrite(song, tmp_path, monkeypatch):
    from stemprover.batch import enhance_paths
    from stemprover.models.base import NullModel
    from stemprover.pipeline import EnhancePipeline, sidecar

    stem, _, _ = song
    from stemprover.models.lora import AdapterSet

    pipe = EnhancePipeline(NullModel(), progress=False, adapters=AdapterSet([], {}, auto=True))
    monkeypatch.setattr(pipe, "_choose_adapters", lambda *a, **k: {"bleed": 0.5})
    out = tmp_path / "o.wav"
    sidecar(out).write_text("mine")
    batch = enhance_paths(pipe, [stem], out)
    assert batch.failed and "output exists" in batch.failed[0].error
    assert str(sidecar(out)) in batch.failed[0].error  # names the file in the way
    assert sidecar(out).read_text() == "mine" and not out.exists()
    assert not enhance_paths(pipe, [stem], out, overwrite=True).failed
    assert json.loads(sidecar(out).read_text())["adapters"] == {"bleed": 0.5}


def test_output_exists_names_the_file_in_the_way(song, tmp_path, capsys):
    stem, _, _ = song
    out = tmp_path / "o.wav"
    out.write_bytes(b"mine")
    code, err = _run(capsys, "enhance", str(stem), "-o", str(out), "--model", "null", "-q")
    assert code == 1 and f"{out}: output exists" in err and out.read_bytes() == b"mine"


def test_a_looping_symlink_is_not_file_not_found(tmp_path, capsys):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    code, err = _run(capsys, "enhance", str(loop), "--model", "null", "-q")
    assert code == 1 and "symbolic link" in err and "file not found" not in err


def test_split_all_is_not_suggested_when_given(tmp_path, capsys):
    from stemprover.evaluation.run import EvalConfig, _select

    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "manifest.jsonl").write_text("")
    with pytest.raises(StemProverError) as caught:
        _select(EvalConfig(folder, split="all"))
    assert "--split all" not in str(caught.value)


def test_debug_shows_the_traceback(song, tmp_path, capsys):
    stem, _, _ = song
    with pytest.raises(StemProverError):
        main(["enhance", str(stem), "--adapters", "a=nan", "--model", "null", "--debug"])


def test_outputs_get_the_usual_permissions(song, tmp_path):
    stem, _, _ = song
    old = os.umask(0o022)
    try:
        assert main(["enhance", str(stem), "-o", str(tmp_path / "o.wav"), "--model", "null"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o.wav").stat().st_mode & 0o777 == 0o644
