"""Provenance of benchmark results; what the speed table runs."""

import json
import subprocess

import numpy as np

from stemprover.evaluation import bench, results
from stemprover.evaluation.bench import BenchConfig
from stemprover.evaluation.results import provenance


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


def test_speed_runs_the_cli_default_and_adapters_none_for_a_model_with_adapters(
    tmp_path, monkeypatch
):
    """The speed table measures what `stemprover enhance` runs when given no --adapters."""
    ran = []

    def fake_measure(cmd):
        ran.append(cmd)
        return 6.0, 900.0, "in.wav -> out.wav  (60.0 s audio, RTF 0.100)\n"

    monkeypatch.setattr(bench, "measure", fake_measure)
    model = tmp_path / "model"
    cfg = BenchConfig(model=str(model), sweep=(0, 4), speed_seconds=0.5)
    plain = bench.speed(cfg)  # no adapters stored: sweep + long file, CLI default = none
    assert [r["adapters"] for r in plain] == ["none (default)"] * 3
    assert not any("--adapters" in c for c in ran)
    (model / "adapters" / "bleed").mkdir(parents=True)
    (model / "adapters" / "bleed" / "adapter.json").write_text("{}")
    ran.clear()
    rows = bench.speed(cfg)
    assert [(r["steps"], r["adapters"], r["audio_s"]) for r in rows] == [
        (0, "auto (default)", 0.5),
        (4, "auto (default)", 0.5),
        ("default", "auto (default)", 1.5),
        ("default", "none", 0.5),
    ]
    assert [c[c.index("--adapters") + 1] if "--adapters" in c else None for c in ran] == [
        None,
        None,
        None,
        "none",
    ]
    assert rows[0]["rtf_enhance"] == 0.1 and rows[0]["rtf_process"] == 12.0


def test_render_only_rewrites_markdown_from_json_keeping_provenance(tmp_path):
    from stemprover.cli import main

    group = {s: {"si_sdr_improvement": d, "sdr": 8.0 + d, "n": 2} for s, d in [("a", 0.1)]}
    summary = {"all": group, "stem:bass": group}
    meta = {"command": "stemprover bench", "git_revision": "abc1234"}
    results.save_results(
        tmp_path, "bench", meta, {"summary": summary, "sweep": {}, "speed": []}, ""
    )
    assert main(["bench", "--render-only", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "bench.md").read_text()
    assert "### sdr by stem, artifact and producer" in md and "| stem:bass | 8.1 |" in md
    assert "git_revision: `abc1234`" in md and "- rendered: " in md
    assert main(["bench", "--render-only", "--out", str(tmp_path / "none")]) == 1


def test_quality_only_rerun_keeps_the_last_speed_table(tmp_path, monkeypatch):
    rows = [{"steps": 1, "adapters": "none (default)", "audio_s": 60.0, "rtf_enhance": 0.2}]
    results.save_results(tmp_path, "bench", {"git_revision": "old"}, {"speed": rows}, "")
    summary = {"all": {"input": {"si_sdr_improvement": 0.0}}}
    sweep = {"all": {"steps=1": {"si_sdr_improvement": 0.0}}}

    def quality(cfg, out):
        for name in ("heldout", "sweep"):
            (out / f"{name}_eval").mkdir(exist_ok=True)
            (out / f"{name}_eval" / "metrics.csv").write_text(f"pair_id,system\n{name},input\n")
        return summary, sweep

    monkeypatch.setattr(bench, "quality", quality)
    bench.run_bench(BenchConfig(speed=False), tmp_path)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["speed"] == rows and saved["summary"] == summary
    # The per-pair rows are kept beside bench.md (the *_eval folders are not committed).
    assert (tmp_path / "bench_sweep_metrics.csv").read_text().endswith("sweep,input\n")
    assert (tmp_path / "bench_heldout_metrics.csv").read_text().endswith("heldout,input\n")
    assert saved["speed_from"].endswith("bench.json (earlier run)")
    assert "| 1 | none (default) | 60 | 0.2 |" in (tmp_path / "bench.md").read_text()
    sweep = {}  # a model without a sweep (the refiner): no stale sweep rows are left
    bench.run_bench(BenchConfig(speed=False), tmp_path)
    assert not (tmp_path / "bench_sweep_metrics.csv").exists()


def test_on_stems_runs_a_per_stem_system_only_on_its_stem_types():
    def system(tag):
        return lambda audio, rate, mix=None, stem=None: (tag, stem, mix)

    drums = results.on_stems(system("adapter"), system("base"), ("drums",))
    assert drums(None, 44100, mix="m", stem="drums") == ("adapter", "drums", "m")
    assert drums(None, 44100, mix="m", stem="vocals") == ("base", "vocals", "m")
    assert drums(None, 44100) == ("base", None, None)
    every = system("adapter")
    assert results.on_stems(every, system("base"), ()) is every


def test_paired_difference_is_per_pair():
    rows = [
        {"pair_id": p, "system": s, "si_sdr": v}
        for p, a, b in (("x", 1.0, 2.0), ("y", 5.0, 4.0), ("z", 0.0, 3.0))
        for s, v in (("a", a), ("b", b))
    ]
    diff = results.paired_difference(rows, "b", "a")
    assert diff["better"] == "2/3" and diff["mean"] == 1.0
    assert abs(diff["se"] - np.std([1.0, -1.0, 3.0], ddof=1) / np.sqrt(3)) < 1e-12
