"""The training engine's guard against a loss or gradient that is not finite."""

import json

import numpy as np
import pytest
import torch

from stemprover.errors import StemProverError
from stemprover.training.checkpoint import load_state
from stemprover.training.engine import EngineSettings, Objective, fit


def _objective(bad_calls=(), bad_grad_calls=()):
    """A linear fit whose loss is NaN on the calls in ``bad_calls`` (counted from 1), and whose
    loss is finite but its gradient NaN on those in ``bad_grad_calls``."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    calls = []

    def loss(rng: np.random.Generator, progress: float) -> dict[str, torch.Tensor]:
        calls.append(progress)
        x = torch.from_numpy(rng.standard_normal((8, 4)).astype(np.float32))
        parts = {"mse": (model(x) - x.sum(1, keepdim=True)).pow(2).mean()}
        if len(calls) in bad_calls:
            parts["mse"] = parts["mse"] * float("nan")
        if len(calls) in bad_grad_calls:  # value 0, gradient 0/0 (d|z|^0.5 at z = 0)
            w = model.weight
            parts["kink"] = (w - w.detach()).abs().sqrt().sum()
        return parts

    return Objective("toy", model, list(model.parameters()), loss), calls


def test_a_step_with_a_nan_loss_or_gradient_is_skipped_and_the_run_goes_on(tmp_path):
    objective, calls = _objective(bad_calls={3}, bad_grad_calls={5})
    settings = EngineSettings(steps=6, lr=1e-2, ema_decay=0.9)
    ema = torch.nn.Linear(4, 1)
    ema.load_state_dict(objective.model.state_dict())
    reached = fit(objective, settings, tmp_path / "log.jsonl", ema=ema, progress=False)
    assert reached == 6
    assert len(calls) == 8  # six updates, two batches skipped
    for module in (objective.model, ema):
        assert all(torch.isfinite(p).all() for p in module.parameters())
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) for r in logged)


def test_a_run_that_stays_nan_stops_with_an_error_and_keeps_its_last_good_checkpoint(tmp_path):
    objective, _ = _objective(bad_calls=set(range(3, 100)))
    settings = EngineSettings(steps=10, lr=1e-2, checkpoint_every=2, max_bad_steps=4)
    ckpt = tmp_path / "checkpoints"
    with pytest.raises(StemProverError, match="not finite for 4 steps in a row after step 2"):
        fit(objective, settings, tmp_path / "log.jsonl", checkpoints=ckpt, progress=False)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.AdamW(model.parameters())
    assert load_state(ckpt, {"model": model}, opt)["step"] == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # mended, the run resumes from that checkpoint and ends
    mended, calls = _objective()
    assert fit(mended, settings, tmp_path / "log.jsonl", checkpoints=ckpt, progress=False) == 10
    assert len(calls) == 8
