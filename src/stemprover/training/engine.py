"""One training engine for every network: optimiser, learning-rate schedule, gradient
clipping, EMA, checkpoints and resume, validation, a wall-clock budget, progress and a JSON
log, on one CPU or under ``accelerate``.

A network brings an :class:`Objective` (its parameters and a loss that draws its own batch);
the engine runs it. The enhancement model (``training/loop.py``), the umx separator
(``training/separator.py``) and the artifact detector (``training/detector.py``) all train here.

A step whose loss or gradient is not finite is skipped (the weights, the EMA and the
optimiser's moments untouched, the next batch drawn); ``max_bad_steps`` of them in a row end
the run with an error before anything is saved, so the last checkpoint still holds finite
weights to resume from. Without this one NaN poisoned the weights and the run went on
saving NaN checkpoints over the good ones (a ``train.level=3`` song stage, session 37).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from stemprover.errors import StemProverError
from stemprover.training.checkpoint import load_state, save_state


@dataclass(frozen=True)
class EngineSettings:
    """How to optimise.

    Attributes:
        steps: Optimiser steps in all (a resumed run counts those already done).
        lr: Peak learning rate.
        seed: Seeds the batches; a resumed run reseeds from ``(seed, rank, step)``.
        optimizer: ``adamw`` or ``adam``.
        schedule: ``constant`` or ``cosine`` (to zero at ``steps``, as CosineAnnealingLR).
        clip: Gradient-norm clip; ``0``: none.
        ema_decay: Decay of the EMA copy (``0``: no EMA); warmed up as diffusers' EMAModel.
        checkpoint_every: Steps between checkpoints; ``0``: none (the run cannot resume).
        validate_every: Steps between validations (and at the last step).
        log_every: Steps between log lines (the first and last are always logged).
        max_minutes: A wall-clock budget; the run stops as if at its last step. ``0``: none.
        stop_at: End this invocation at this step, as the time budget does (the learning-rate
            schedule still runs to ``steps``; running again resumes). ``0``: none.
        max_bad_steps: Steps in a row whose loss or gradient is not finite (each skipped)
            after which the run stops with an error, its last checkpoint left as it was.
    """

    steps: int
    lr: float
    seed: int = 0
    optimizer: Literal["adamw", "adam"] = "adamw"
    schedule: Literal["constant", "cosine"] = "constant"
    clip: float = 1.0
    ema_decay: float = 0.0
    checkpoint_every: int = 0
    validate_every: int = 0
    log_every: int = 1
    max_minutes: float = 0.0
    stop_at: int = 0
    max_bad_steps: int = 20


@dataclass
class Objective:
    """What one network learns.

    Attributes:
        name: Names the progress bar, the log records and the checkpoint folder.
        model: The network trained (the module the optimiser's parameters belong to).
        params: The parameters to train (all of ``model``'s, or a stage's share).
        loss: ``(rng, progress in [0, 1)) -> {part: scalar tensor}``; draws its own batch and
            returns the loss parts, which are summed.
    """

    name: str
    model: torch.nn.Module
    params: list[torch.nn.Parameter]
    loss: Callable[[np.random.Generator, float], dict[str, torch.Tensor]]


class _Local:
    """What the engine needs from an ``accelerate.Accelerator``, for a plain process."""

    is_main_process, process_index, device = True, 0, torch.device("cpu")

    def prepare(self, *things):
        return things

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def clip_grad_norm_(self, params, norm: float) -> None:
        torch.nn.utils.clip_grad_norm_(params, norm)

    def unwrap_model(self, model):
        return model

    def print(self, *args) -> None:
        print(*args)


def fit(
    objective: Objective,
    settings: EngineSettings,
    log: Path,
    checkpoints: Path | None = None,
    ema: torch.nn.Module | None = None,
    validate: Callable[[], dict] | None = None,
    accelerator=None,
    progress: bool = True,
) -> int:
    """Train ``objective`` to ``settings.steps``, resuming from ``checkpoints`` if it holds a
    state. Returns the step reached (less than ``steps`` when the time budget ran out).

    Args:
        log: A JSON-lines file; one record per logged step (loss parts, validation, time).
        checkpoints: Folder for the resumable state (model, EMA, optimiser, step).
        ema: A copy of the model that follows the trained parameters (``ema_decay`` > 0);
            validation reads it.
        validate: Called every ``validate_every`` steps and at the last; its dict is logged.
    """
    acc = accelerator or _Local()
    opt_cls = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(objective.params, lr=settings.lr)
    modules = {"model": objective.model, **({"ema": ema} if ema is not None else {})}
    step = 0
    if checkpoints is not None and (checkpoints / "state.safetensors").exists():
        step = load_state(checkpoints, modules, opt)["step"]
        acc.print(f"resuming {objective.name} from step {step}")
    if step >= settings.steps or 0 < settings.stop_at <= step:
        return step
    tracked = _ema_pairs(objective, ema)
    rng = np.random.default_rng([settings.seed, acc.process_index, step])
    wrapped, opt = acc.prepare(objective.model, opt)
    bar = tqdm(
        total=settings.steps,
        initial=step,
        desc=objective.name,
        disable=not progress or not acc.is_main_process,
    )
    started, budget = time.monotonic(), settings.max_minutes * 60
    bad = 0  # steps in a row skipped for a loss or gradient that is not finite
    while step < settings.steps:
        for group in opt.param_groups:
            group["lr"] = _lr(settings, step)
        parts = objective.loss(rng, step / settings.steps)
        total = sum(parts.values())
        opt.zero_grad(set_to_none=True)
        acc.backward(total)
        if not _finite(total, objective.params):
            bad += 1
            named = ", ".join(k for k, v in parts.items() if not torch.isfinite(v).all())
            bar.write(
                f"{objective.name}: step {step + 1}: loss or gradient not finite "
                f"({named or 'gradient'}), update skipped ({bad} in a row)"
            )
            if bad >= settings.max_bad_steps:
                bar.close()
                raise StemProverError(
                    f"{objective.name}: the loss or its gradient was not finite for {bad} "
                    f"steps in a row after step {step}; nothing was saved past the last "
                    "checkpoint (lower the learning rate or the loss weight that diverged, "
                    "then run again to resume)",
                    checkpoints,
                )
            continue
        bad = 0
        if settings.clip:
            acc.clip_grad_norm_(objective.params, settings.clip)
        opt.step()
        step += 1
        if tracked:
            # EMA warm-up as in diffusers' EMAModel: a short run is not averaged into its init.
            decay = min(settings.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for p_ema, p in tracked:
                    p_ema.lerp_(p, 1 - decay)
        bar.update()
        bar.set_postfix(loss=f"{total.item():.4f}")
        last = (
            step == settings.steps
            or (budget > 0 and time.monotonic() - started > budget)
            or 0 < settings.stop_at <= step
        )
        record = {"stage": objective.name, "step": step, "loss": total.item()}
        record.update({k: v.item() for k, v in parts.items()})
        if (
            validate is not None
            and acc.is_main_process
            and _every(settings.validate_every, step, last)
        ):
            record.update(validate())
            bar.write(
                json.dumps(
                    {k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}
                )
            )
        if acc.is_main_process and (_every(settings.log_every, step, last) or step == 1):
            with open(log, "a") as f:
                f.write(json.dumps({**record, "time": time.time()}) + "\n")
        save_now = checkpoints is not None and _every(settings.checkpoint_every, step, last)
        if save_now and acc.is_main_process:
            saved = {**modules, "model": acc.unwrap_model(wrapped)}
            save_state(checkpoints, saved, opt, {"step": step, "stage": objective.name})
        if last and step < settings.steps:
            acc.print(f"{objective.name}: stopped at step {step} (run again to resume)")
            break
    bar.close()
    return step


def _finite(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> bool:
    """Whether the loss and every gradient are finite (a NaN or inf would poison the weights,
    the EMA and the optimiser's moments)."""
    checks = [torch.isfinite(loss).all()]
    checks += [torch.isfinite(p.grad).all() for p in params if p.grad is not None]
    return bool(torch.stack(checks).all())  # one device sync a step


def _every(period: int, step: int, last: bool) -> bool:
    return last or (period > 0 and step % period == 0)


def _lr(settings: EngineSettings, step: int) -> float:
    """The rate for the update after ``step`` updates (CosineAnnealingLR's, stepped per update)."""
    if settings.schedule == "cosine":
        return settings.lr * (1 + math.cos(math.pi * step / settings.steps)) / 2
    return settings.lr


def _ema_pairs(objective: Objective, ema: torch.nn.Module | None) -> list:
    """``(ema parameter, trained parameter)`` for what this objective trains; buffers (the
    latent scale) are copied once, as they are set before training."""
    if ema is None:
        return []
    ema_params = dict(ema.named_parameters())
    trainable = {id(p) for p in objective.params}
    with torch.no_grad():
        for b_ema, b in zip(ema.buffers(), objective.model.buffers(), strict=True):
            b_ema.copy_(b)
    return [(ema_params[n], p) for n, p in objective.model.named_parameters() if id(p) in trainable]
