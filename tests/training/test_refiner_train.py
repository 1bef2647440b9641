"""`stemprover refiner train`: a tiny run writes a loadable model, its log and its best
validation, and running it again with more steps resumes from the checkpoint."""

from __future__ import annotations

import json

from stemprover.cli import main
from stemprover.models.base import load_model
from stemprover.models.refiner import RefinerModel

TINY = [
    "--set",
    "model.sample_rate=16000",
    "--set",
    "model.stft.n_fft=512",
    "--set",
    "model.stft.hop=128",
    "--set",
    "model.width=8",
    "--set",
    "model.blocks=1",
    "--set",
    "model.heads=2",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.seconds=0.5",
    "--set",
    "train.valid_crops=8",
    "--set",
    "train.validate_every=2",
    "--set",
    "train.checkpoint_every=1",
]


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
