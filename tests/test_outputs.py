"""Nothing lost: the one write rule (``stemprover.outputs``) under adversarial use —
inputs never overwritten, names claimed atomically, nothing left behind after SIGTERM or
``kill -9``. Issue 24's data-loss reproductions, each on tiny files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

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
    _snapshot,
)

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


def test_outputs_get_the_usual_permissions(song, tmp_path):
    stem, _, _ = song
    old = os.umask(0o022)
    try:
        assert main(["enhance", str(stem), "-o", str(tmp_path / "o.wav"), "--model", "null"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o.wav").stat().st_mode & 0o777 == 0o644
