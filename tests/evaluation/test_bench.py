"""Provenance of benchmark results."""

import subprocess

from stemprover.evaluation.bench import provenance


def test_provenance_marks_untracked_files_dirty_and_ignores_ignored_ones(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("/runs/\n")
    git("add", ".gitignore")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "log.txt").write_text("ignored")
    assert not provenance()["git_revision"].endswith("+dirty")
    (tmp_path / "new_adapter.json").write_text("{}")  # e.g. an adapter not yet committed
    assert provenance()["git_revision"].endswith("+dirty")
