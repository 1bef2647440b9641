"""One clear line, never a traceback: issue 24's reproductions of bad requests and malformed
inputs, each run on tiny files.

Each test asserts that the user's files survive, the exit code, and the one-line message.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from stemprover import outputs
from stemprover.audio import io
from stemprover.cli import main
from stemprover.errors import StemProverError
from tests.reliability_common import (
    _hidden,
    _intact,
    _one_line,
    _run,
)


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
