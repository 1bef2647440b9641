"""diffusers schedulers built from :class:`~stemprover.config.DiffusionConfig` (not reimplemented)."""

from __future__ import annotations

from typing import Literal

from stemprover.config import DiffusionConfig
from stemprover.errors import StemProverError

SchedulerName = Literal["ddim", "dpm++", "ddpm"]


def make_scheduler(cfg: DiffusionConfig, name: str | None = None):
    """A fresh scheduler predicting the clean sample (``prediction_type="sample"``)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common = dict(
        num_train_timesteps=cfg.train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type="sample",
    )
    builders = {
        "ddim": lambda: DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=False),
        "dpm++": lambda: DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2
        ),
        "ddpm": lambda: DDPMScheduler(**common, clip_sample=False),
    }
    name = name or cfg.scheduler
    if name not in builders:
        raise StemProverError(f"unknown scheduler {name!r}; choose from {sorted(builders)}")
    return builders[name]()
