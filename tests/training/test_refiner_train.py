"""`stemprover refiner train`: a tiny run writes a loadable model, its log and its best
validation, and running it again with more steps resumes from the checkpoint."""

from __future__ import annotations

import json
import math

from stemprover.cli import main
from stemprover.models.base import load_model
from stemprover.models.refiner import RefinerModel


def _sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


TINY_MODEL = _sets(
    "model.sample_rate=16000",
    "model.stft.n_fft=512",
    "model.stft.hop=128",
    "model.width=8",
    "model.blocks=1",
    "model.heads=2",
)
TINY_TRAIN = _sets(
    "train.batch_size=2",
    "train.seconds=0.5",
    "train.valid_crops=8",
    "train.validate_every=2",
    "train.checkpoint_every=1",
)
TINY = TINY_MODEL + TINY_TRAIN


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_refiner_train_writes_a_model_and_resumes(pairs, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["refiner", "train", "--pairs", str(pairs), "--out", str(run), "-q", *TINY]
    # stop_at ends the invocation early on the full run's schedule
    assert main([*args, "--set", "train.steps=3", "--set", "train.stop_at=2"]) == 0
    assert "validating on training pairs" in capsys.readouterr().out  # 5 songs: no valid split
    model = load_model(run / "model", adapters="none")
    assert isinstance(model, RefinerModel) and model.config.width == 8
    best = json.loads((run / "best.json").read_text())
    assert {"valid_song_db", "valid_mixture_db", "valid_stem_db"} <= set(best["scores"])
    assert [r["step"] for r in _log(run)][-1] == 2
    assert main([*args, "--set", "train.steps=3", "--set", "train.stop_at=2"]) == 0
    assert [r["step"] for r in _log(run)][-1] == 2  # already there: nothing more
    assert main([*args, "--set", "train.steps=3"]) == 0
    steps = [r["step"] for r in _log(run)]
    assert steps[-1] == 3 and steps.count(1) == 1  # resumed at 2, not restarted


def test_refiner_train_refuses_unknown_settings(pairs, tmp_path, capsys):
    code = main(
        [
            "refiner",
            "train",
            "--pairs",
            str(pairs),
            "--out",
            str(tmp_path / "r"),
            "--set",
            "train.stepz=3",
        ]
    )
    assert code != 0
    assert "unknown config key 'train.stepz'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_refiner_train_init_continues_the_models_architecture(pairs, tmp_path):
    """--init takes the starting model's model.* settings (its width, its prior), so a second
    stage needs only the train.* ones; a model.* --set still overrides them."""
    first = tmp_path / "first"
    base = ["refiner", "train", "--pairs", str(pairs), "-q"]
    steps = ["--set", "train.steps=1"]
    prior = ["--set", "model.prior=power-share"]
    assert main([*base, "--out", str(first), *TINY, *prior, *steps]) == 0
    second = tmp_path / "second"
    init = ["--init", str(first / "model"), *TINY_TRAIN, *steps]
    assert main([*base, "--out", str(second), *init]) == 0
    cfg = RefinerModel.load(second / "model").config
    assert (cfg.width, cfg.prior) == (8, "power-share")
    third = tmp_path / "third"
    assert main([*base, "--out", str(third), *init, "--set", "model.prior=mwf"]) == 0
    assert RefinerModel.load(third / "model").config.prior == "mwf"


def test_refiner_train_through_the_song_filter(pairs, tmp_path, monkeypatch):
    """train.song_filter=1 trains every song-mode batch through the song filter: the path
    runs, its loss is finite and the run writes a model."""
    from stemprover.training import refiner as training

    calls = []
    through = training._Loss._through_song_filter

    def spy(self, rng, restraint):
        parts = through(self, rng, restraint)
        calls.append({k: float(v.detach()) for k, v in parts.items()})
        return parts

    monkeypatch.setattr(training._Loss, "_through_song_filter", spy)
    run = tmp_path / "run"
    only_song = _sets("train.mixture_dropout=0", "train.sibling_dropout=0", "train.song_filter=1")
    args = ["refiner", "train", "--pairs", str(pairs), "--out", str(run), "-q", *TINY]
    terms = ["--set", "train.steps=2", "--set", "train.mel=1", "--set", "train.level=1"]
    assert main([*args, *only_song, *terms]) == 0
    assert len(calls) == 2 and all(math.isfinite(v) for c in calls for v in c.values())
    assert {"snr", "harm", "mrstft", "phase", "mel", "level"} <= set(calls[0])
    assert isinstance(load_model(run / "model", adapters="none"), RefinerModel)


def test_refiner_train_bf16_runs_the_network_under_autocast_and_keeps_float32(
    pairs, tmp_path, monkeypatch
):
    """train.bf16 runs the network in bfloat16 autocast on both training paths (crops, and
    song crops through the song filter), not in validation; its output, the loss and the
    saved weights stay float32."""
    import torch

    from stemprover.training import refiner as training

    seen = []
    run_model, refine_song = training.run_model, RefinerModel.refine_song

    def spy_run(*args):
        out = run_model(*args)
        seen.append(("crops", torch.is_autocast_enabled("cpu"), out[1].dtype))
        return out

    def spy_song(self, *args):
        out = refine_song(self, *args)
        seen.append(("song", torch.is_autocast_enabled("cpu"), out.dtype))
        return out

    monkeypatch.setattr(training, "run_model", spy_run)
    monkeypatch.setattr(RefinerModel, "refine_song", spy_song)
    run = tmp_path / "run"
    args = ["refiner", "train", "--pairs", str(pairs), "--out", str(run), "-q", *TINY]
    song = _sets("train.mixture_dropout=0", "train.sibling_dropout=0", "train.song_filter=0.5")
    assert main([*args, *song, "--set", "train.steps=4", "--set", "train.bf16=true"]) == 0
    assert {(path, on) for path, on, _ in seen} == {
        ("crops", True),
        ("song", True),
        ("crops", False),
    }
    assert {dtype for *_, dtype in seen} == {torch.complex64}
    model = RefinerModel.load(run / "model")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(math.isfinite(r["loss"]) for r in _log(run) if "loss" in r)


def test_refiner_train_refuses_to_resume_from_other_init_weights(pairs, tmp_path, capsys):
    """A run folder remembers what it started from (init.json): resuming it with another
    --init, without the one it had, or from the same folder retrained since, is refused
    before anything is trained; the run's own --init resumes."""
    base = ["refiner", "train", "--pairs", str(pairs), "-q", *TINY]
    a, b, run = tmp_path / "a", tmp_path / "b", tmp_path / "run"
    assert main([*base, "--out", str(a), "--set", "train.steps=1"]) == 0
    assert main([*base, "--out", str(b), "--set", "train.steps=1", "--set", "train.seed=3"]) == 0
    stage = [*base, "--out", str(run), "--set", "train.steps=3"]
    assert main([*stage, "--set", "train.stop_at=1", "--init", str(a / "model")]) == 0
    record = json.loads((run / "init.json").read_text())
    assert record["init"] == str((a / "model").resolve()) and len(record["sha256"]) == 64
    capsys.readouterr()
    for other in (["--init", str(b / "model")], []):
        assert main([*stage, "--set", "train.stop_at=2", *other]) != 0
        assert "this run started from" in capsys.readouterr().err
    assert [r["step"] for r in _log(run)][-1] == 1  # nothing trained by the refused calls
    assert main([*stage, "--set", "train.stop_at=2", "--init", str(a / "model")]) == 0
    assert [r["step"] for r in _log(run)][-1] == 2
    weights = "model.safetensors"
    (a / "model" / weights).write_bytes((b / "model" / weights).read_bytes())
    assert main([*stage, "--init", str(a / "model")]) != 0
    assert "its weights changed since" in capsys.readouterr().err
    fresh = tmp_path / "fresh"  # a run from nothing refuses an --init on resume
    assert main([*base, "--out", str(fresh), "--set", "train.steps=1"]) == 0
    again = ["--set", "train.steps=2", "--init", str(b / "model")]
    assert main([*base, "--out", str(fresh), *again]) != 0
    assert "started from nothing (no --init)" in capsys.readouterr().err
