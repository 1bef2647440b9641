"""Does the mixture, as a second condition, let the denoiser learn what the stem alone cannot?

A training-path probe, not a product feature: the base config trained from scratch on one
pairs folder, with or without the mixture's latent (and its log magnitude) concatenated to
the control branch's input. The extra input enters through zero-initialised input channels,
so both runs start from the same function. Validation: SI-SDR of one sampling step (strength
0.2 from a zero residual: the shape of `enhance`'s default, without its overlap-add) on
fixed 1-s crops of the valid split.

    python experiments/mixture_probe/mixture_probe.py --pairs data/bleed_pairs --out runs/probe_mix --mixture
    python experiments/mixture_probe/mixture_probe.py --pairs data/bleed_pairs --out runs/probe_stem

Superseded by the product path (`model.denoiser.mixture`, PairCrops' mixture crops,
`enhance --mix`) and experiments/mixture_ab/mixture_ab.py; kept because experiments/mixture_probe/results/mixture_probe.md
was made with it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stemprover.audio import io
from stemprover.config import load_config
from stemprover.data.manifest import read_manifest
from stemprover.diffusion.schedulers import make_scheduler
from stemprover.evaluation.metrics import si_sdr
from stemprover.models.control import log_magnitude
from stemprover.models.enhancer import StemProverModel
from stemprover.training.loop import _spec, _wave, denoiser_loss, set_latent_scale


class WithExtra(nn.Module):
    """``conv_in`` reading ``extra`` channels beside its input; the new weights start at 0."""

    def __init__(self, conv: nn.Conv2d, extra_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(conv.in_channels + extra_channels, conv.out_channels, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, : conv.in_channels] = conv.weight
            self.conv.bias.copy_(conv.bias)
        self.extra: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x, self.extra], dim=1))


def load(folder: Path, split: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for rec in read_manifest(folder):
        if rec["split"] == split:
            out.append(
                tuple(
                    io.read(folder / rec[k], "float32")[0][0]
                    for k in ("clean", "artifacted", "mixture")
                )
            )
    return out


def crops(pairs, n: int, length: int, rng) -> list[torch.Tensor]:
    picked = [pairs[int(rng.integers(len(pairs)))] for _ in range(n)]
    starts = [int(rng.integers(0, p[0].shape[-1] - length)) for p in picked]
    return [
        torch.from_numpy(
            np.stack([p[k][s : s + length] for p, s in zip(picked, starts, strict=True)])
        )
        for k in range(3)
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mixture", action="store_true")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=50)
    args = p.parse_args()
    torch.manual_seed(0)
    cfg = load_config("base", ["train.identity_pairs=0"])
    model = StemProverModel(cfg.model)
    length = round(cfg.train.segment_seconds * cfg.model.sample_rate)
    train, valid = load(args.pairs, "train"), load(args.pairs, "valid")
    latent = model.autoencoder.latent_channels
    wrapped = WithExtra(model.control.conv_in, latent + latent // 2)
    model.control.conv_in = wrapped

    def set_extra(mix: torch.Tensor) -> None:
        z = model.autoencoder.encode(_spec(mix, model))
        extra = torch.cat([z, log_magnitude(z)], 1)
        wrapped.extra = extra if args.mixture else torch.zeros_like(extra)

    class Crops:  # set_latent_scale's view of the data
        def batch(self, size, rng):
            return crops(train, size, length, rng)[:2]

    set_latent_scale(model, Crops())
    loss_fn = denoiser_loss(model, cfg)
    params = [q for m in (model.denoiser, model.control) for q in m.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.train.lr)
    sched = make_scheduler(cfg.model.diffusion, "ddpm")
    vrng = np.random.default_rng(123)
    vclean, vart, vmix = crops(valid, 24, length, vrng)
    # The validation inputs never change: encode them once.
    with torch.no_grad():
        vzc = model.autoencoder.encode(_spec(vart, model))
        set_extra(vmix)
        vextra = wrapped.extra
    noise = torch.randn(vzc.shape, generator=torch.Generator().manual_seed(0))
    t = torch.full(
        (24,), round(cfg.model.diffusion.strength * cfg.model.diffusion.train_timesteps) - 1
    )

    @torch.no_grad()
    def validate() -> float:
        model.eval()
        wrapped.extra, zc = vextra, vzc
        x_t = sched.add_noise(torch.zeros_like(zc), noise, t)
        r0 = model.predict_residual(x_t, t, model.control(zc), zc)
        est = _wave(model.autoencoder.decode(zc + r0), model, length).numpy()
        model.train()
        return float(
            np.nanmean([si_sdr(c[None], e[None]) for c, e in zip(vclean.numpy(), est, strict=True)])
        )

    args.out.mkdir(parents=True, exist_ok=True)
    base_in = float(
        np.nanmean(
            [si_sdr(c[None], a[None]) for c, a in zip(vclean.numpy(), vart.numpy(), strict=True)]
        )
    )
    log = [{"step": 0, "input": base_in, "model": validate()}]
    print(json.dumps(log[-1]))
    rng = np.random.default_rng(0)
    for step in range(1, args.steps + 1):
        clean, art, mix = crops(train, cfg.train.batch_size, length, rng)
        with torch.no_grad():
            set_extra(mix)
        total = sum(loss_fn(clean, art).values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % args.every == 0:
            log.append({"step": step, "input": base_in, "model": validate()})
            print(json.dumps(log[-1]), flush=True)
    (args.out / "probe.json").write_text(
        json.dumps({"mixture": args.mixture, "log": log}, indent=1)
    )


if __name__ == "__main__":
    main()
