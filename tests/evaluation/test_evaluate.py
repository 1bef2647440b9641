import csv
import json

import pytest

from stemprover.cli import main
from stemprover.data.manifest import read_manifest
from stemprover.errors import StemProverError


def test_pairs_then_evaluate_writes_metrics_and_report(tmp_path, capsys):
    pairs = tmp_path / "pairs"
    assert (
        main(
            [
                "pairs",
                "--out",
                str(pairs),
                "--synthetic",
                "1",
                "--seconds",
                "2",
                "--rate",
                "16000",
                "--split",
                "test",
                "-q",
            ]
        )
        == 0
    )
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--pairs",
                str(pairs),
                "--out",
                str(out),
                "--examples",
                "1",
                "--model",
                "null",
                "-q",
            ]
        )
        == 0
    )
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    systems = {"input", "spectral-gate", "wiener", "oracle", "model"}
    assert {r["system"] for r in rows} == systems and len(rows) == 4 * len(systems)
    for column in (
        "pair_id",
        "stem",
        "system",
        "si_sdr",
        "sdr",
        "sdr_median",
        "mel_snr",
        "bleedless",
        "fullness",
    ):
        assert column in rows[0]
    assert any(r["stem"] == "vocals" and r["pesq"] and r["estoi"] for r in rows)
    by = {(r["pair_id"], r["system"]): float(r["si_sdr"]) for r in rows}
    for pair in {r["pair_id"] for r in rows}:
        assert by[(pair, "oracle")] > by[(pair, "input")]
        assert abs(by[(pair, "model")] - by[(pair, "input")]) < 0.01  # null model
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert set(summary["all"]) == systems
    page = (out / "report.html").read_text()
    assert "ex0.png" in page and "<audio" in page and (out / "ex0.png").stat().st_size > 1000
    # In words: who won, the oracle as an unattainable bound, what each column means.
    assert "Best: " in page or "No system beat the input" in page
    assert "oracle (unattainable)" in page and "unattainable bound" in page
    assert "What the columns mean" in page and "bleedless" in page
    assert "report.html" in capsys.readouterr().out
    # Each model is told its pair's stem type (what `--adapters auto` routes by).
    from stemprover.data.manifest import read_manifest
    from stemprover.evaluation.run import EvalConfig, evaluate

    seen = []

    def spy(audio, rate, mix=None, stem=None):
        seen.append(stem)
        return audio

    evaluate(EvalConfig(pairs, ("spy",), examples=0), tmp_path / "e2", {"spy": spy}, progress=False)
    assert seen == [r["stem"] for r in read_manifest(pairs)] and len(set(seen)) == 4


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ev") / "pairs"
    argv = ["pairs", "--out", str(out), "--synthetic", "2", "--seconds", "1.0"]
    assert main([*argv, "--rate", "16000", "--seed", "2", "-q"]) == 0
    return out


def test_evaluate_can_score_one_stem_type(pairs):
    from stemprover.evaluation.run import EvalConfig, _select

    chosen = _select(EvalConfig(pairs, split="all", stems=("drums",)))
    assert chosen and {r["stem"] for r in chosen} == {"drums"}
    assert len(chosen) == sum(r["stem"] == "drums" for r in read_manifest(pairs))
    with pytest.raises(StemProverError, match="no piano pairs"):
        _select(EvalConfig(pairs, split="all", stems=("piano",)))


def test_song_pairs_give_each_pair_its_songs_other_stems_and_gain_table_groups(pairs):
    import numpy as np

    from stemprover.evaluation.run import gain_table, song_pairs

    records = [r for r in read_manifest(pairs) if r["split"] == "train"]
    seen = list(song_pairs(pairs, "train"))
    assert [r["id"] for r, *_ in seen] == [r["id"] for r in records]
    for rec, clean, art, mix, sibs in seen:
        same_song = [o for o in records if o["song"] == rec["song"]]
        assert len(sibs) == len(same_song) - 1
        assert clean.shape == art.shape == mix.shape and all(o.shape == art.shape for o in sibs)
        # The siblings are the song's other artifacted stems, never this pair's own.
        assert not any(np.array_equal(o, art) for o in sibs)
    table = {"all": {"a": [1.0, -1.0]}, "drums": {"a": [2.0]}, "<5 dB": {"a": [-0.6]}}
    lines = gain_table(table, ["a"]).splitlines()
    assert lines[0] == "| group | n | a |"
    assert lines[2:] == ["| all | 2 | +0.00 (50%) |", "| <5 dB | 1 | -0.60 (100%) |",
                         "| drums | 1 | +2.00 (0%) |"]  # fmt: skip


def test_evaluate_refuses_a_full_output_folder_before_scoring_anything(pairs, tmp_path):
    from stemprover.evaluation.run import EvalConfig, evaluate

    out = tmp_path / "e"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    calls = []

    def spy(audio, rate, mix=None, stem=None):
        calls.append(stem)
        return audio

    with pytest.raises(StemProverError, match="not empty"):
        evaluate(EvalConfig(pairs, ("spy",), "all", examples=0), out, {"spy": spy}, progress=False)
    assert calls == [] and [p.name for p in out.iterdir()] == ["keep.txt"]
    evaluate(EvalConfig(pairs, ("spy",), "all", examples=0), out, {"spy": spy}, True, False)
    assert calls and (out / "metrics.json").exists() and (out / "keep.txt").read_text() == "mine"
