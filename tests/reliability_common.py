"""Helpers and fixtures shared by the reliability tests (issue 24's reproductions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemprover.cli import main


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
