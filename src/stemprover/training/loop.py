"""train(cfg) -> run_dir: autoencoder stage, then denoiser + control stage, with accelerate.

The same code runs on one CPU, one GPU or several (``accelerate launch -m stemprover train``).
Each stage checkpoints to ``run/checkpoints/<stage>/`` and resumes from there when started
again; the final model (EMA weights) goes to ``run/model/``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import compress, decompress, istft, stft
from stemprover.config import RunConfig, to_dict
from stemprover.diffusion.schedulers import make_scheduler
from stemprover.errors import StemProverError
from stemprover.models.enhancer import AutoencoderRoundTrip, StemProverModel
from stemprover.training.data import PairCrops
from stemprover.training.engine import EngineSettings, Objective, fit
from stemprover.training.init import base_vae, load_base_unet, warm_start
from stemprover.training.losses import mrstft_loss, phase_coherence_loss, si_sdr_loss


@dataclass
class Stage:
    name: str
    steps: int
    params: list[torch.nn.Parameter]
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], dict[str, torch.Tensor]]


def _spec(x: torch.Tensor, model: StemProverModel) -> torch.Tensor:
    """Compressed STFT padded to the model's frame multiple. Shape: ``(B, T)`` -> ``(B, F, N)``."""
    spec = compress(stft(x, model.stft), model.stft)
    return torch.nn.functional.pad(spec, (0, (-spec.shape[-1]) % model.multiple))


def _wave(spec: torch.Tensor, model: StemProverModel, length: int) -> torch.Tensor:
    return istft(decompress(spec, model.stft), model.stft, length)


def autoencoder_loss(model: StemProverModel, cfg: RunConfig):
    ae = model.autoencoder

    def loss(clean: torch.Tensor, art: torch.Tensor, mix=None) -> dict[str, torch.Tensor]:
        x = torch.cat([clean, art])  # both kinds of input it will see, (2B, T)
        image = ae.to_image(_spec(x, model))  # (2B, 2, F-1, N)
        dist = ae.vae.encode(torch.nn.functional.pixel_unshuffle(image, ae.patch)).latent_dist
        rec = ae.decode_image(dist.sample())
        wave = _wave(ae.from_image(rec), model, x.shape[-1])
        parts = {
            "l1": (rec - image).abs().mean(),
            "mrstft": mrstft_loss(wave, x, cfg.loss.mrstft_ffts),
            "kl": dist.kl().mean() * cfg.model.autoencoder.kl_weight,
        }
        return parts

    return loss


def denoiser_loss(model: StemProverModel, cfg: RunConfig):
    sched = make_scheduler(cfg.model.diffusion, "ddpm")
    diff, w = cfg.model.diffusion, cfg.loss

    def loss(
        clean: torch.Tensor, art: torch.Tensor, mix: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            spec_clean = _spec(clean, model)
            z0 = model.autoencoder.encode(spec_clean)  # (B, L, F, N)
            zc = model.autoencoder.encode(_spec(art, model))
            zm = None
            if mix is not None and model.uses_mixture:
                # Some items go without their mixture (a zero latent: absent), as without --mix.
                kept = torch.rand(mix.shape[0], device=mix.device) >= cfg.train.mixture_dropout
                zm = model.autoencoder.encode(_spec(mix, model)) * kept[:, None, None, None]
        top = max(1, round(diff.train_strength * diff.train_timesteps))
        t = torch.randint(0, top, (z0.shape[0],), device=z0.device)
        residual = z0 - zc
        # Part of the batch starts from a zero residual, as inference does.
        from_zero = torch.rand(z0.shape[0], device=z0.device) < diff.condition_start_prob
        start = torch.where(from_zero[:, None, None, None], torch.zeros_like(residual), residual)
        x_t = sched.add_noise(start, torch.randn_like(z0), t)
        r0 = model.predict_residual(x_t, t, model.control(zc, zm), zc, zm)
        x0 = zc + r0
        spec = model.autoencoder.decode(x0)  # gradients reach x0 through the frozen decoder
        wave = _wave(spec, model, clean.shape[-1])
        # Only the terms with a weight are computed: unweighted STFT and phase terms made a base
        # training step 20% slower (1024 vs 818 ms on 2 cores), and the default has neither.
        parts = {"diffusion": torch.nn.functional.mse_loss(r0, residual) * w.diffusion}
        if w.mrstft:
            parts["mrstft"] = mrstft_loss(wave, clean, w.mrstft_ffts) * w.mrstft
        if w.phase:
            parts["phase"] = (
                phase_coherence_loss(
                    decompress(spec, model.stft),
                    decompress(spec_clean, model.stft),
                    model.stft,
                    model.sample_rate,
                )
                * w.phase
            )
        if w.si_sdr:
            parts["si_sdr"] = si_sdr_loss(wave, clean, max_db=w.si_sdr_max_db) * w.si_sdr
        if w.snr:
            parts["snr"] = (
                si_sdr_loss(wave, clean, max_db=w.si_sdr_max_db, scale_invariant=False) * w.snr
            )
        return parts

    return loss


@torch.no_grad()
def set_latent_scale(model: StemProverModel, data: PairCrops, batches: int = 8) -> float:
    """Scale latents to unit variance (Rombach et al. 2022, appendix G)."""
    rng = np.random.default_rng(0)
    model.autoencoder.latent_scale.fill_(1.0)
    device = model.autoencoder.latent_scale.device
    z = [
        model.autoencoder.encode(_spec(data.batch(4, rng)[0].to(device), model))
        for _ in range(batches)
    ]
    scale = 1.0 / float(torch.cat(z).std().clamp_min(1e-4))
    model.autoencoder.latent_scale.fill_(scale)
    return scale


def validate(
    model: StemProverModel, data: PairCrops | None, count: int, seconds: float = 3.0
) -> dict:
    """SI-SDR of the autoencoder round trip and of the model vs the input on valid pairs
    (with their mixtures when ``data`` holds them)."""
    if data is None:
        return {}
    from stemprover.evaluation.metrics import level_db, si_sdr
    from stemprover.pipeline import EnhancePipeline

    device = str(model.autoencoder.latent_scale.device.type)
    n = round(seconds * model.sample_rate)
    out = {"input": [], "autoencoder": [], "model": []}
    level = []  # output level relative to the input, dB: a drifting gain shows here
    model.eval()
    ae = EnhancePipeline(AutoencoderRoundTrip(model), device=device, progress=False)
    pipe = EnhancePipeline(
        model, device=device, progress=False, sampling=model.sampling_options(seed=0)
    )
    mixtures = data.mixture or [None] * len(data.clean)
    for clean, art, mix in list(zip(data.clean, data.artifacted, mixtures, strict=True))[:count]:
        clean, art = clean[:, :n].astype(np.float64), art[:, :n].astype(np.float64)
        out["input"].append(si_sdr(clean, art))
        out["autoencoder"].append(si_sdr(clean, ae(clean, model.sample_rate)))
        if mix is not None:
            mix = mix[: art.shape[0], :n].astype(np.float64)
        est = pipe(art, model.sample_rate, mix=mix)
        out["model"].append(si_sdr(clean, est))
        level.append(level_db(art, est))
    model.train()
    return {f"valid_si_sdr_{k}": float(np.nanmean(v)) for k, v in out.items()} | {
        "valid_level_db_model": float(np.nanmean(level))
    }


def _run_stage(
    stage: Stage,
    model: StemProverModel,
    ema: StemProverModel,
    cfg: RunConfig,
    data: PairCrops,
    valid: PairCrops | None,
    run: Path,
    accelerator,
    progress: bool,
) -> None:
    """One stage through the training engine; checkpoints in ``run/checkpoints/<stage>/``."""
    t = cfg.train

    def loss(rng: np.random.Generator, progress_: float) -> dict[str, torch.Tensor]:
        batch = data.batch(t.batch_size, rng, progress=progress_)
        clean, art, mix = (None if x is None else x.to(accelerator.device) for x in batch)
        return stage.loss(clean, art, mix)

    settings = EngineSettings(
        steps=stage.steps,
        lr=t.lr,
        seed=t.seed,
        ema_decay=t.ema_decay,
        checkpoint_every=t.checkpoint_every,
        validate_every=t.validate_every,
        max_minutes=t.max_minutes,
    )
    fit(
        Objective(stage.name, model, stage.params, loss),
        settings,
        run / "log.jsonl",
        checkpoints=run / "checkpoints" / stage.name,
        ema=ema,
        validate=lambda: validate(ema, valid, t.valid_pairs),
        accelerator=accelerator,
        progress=progress,
    )


def _maybe(make):
    try:
        return make()
    except StemProverError:
        return None


def train(
    cfg: RunConfig,
    pairs: Path | Sequence[Path],
    run: Path,
    base_model: Path | None = None,
    progress: bool = True,
    init: str | Path | None = None,
) -> Path:
    """Train (or resume) a model; returns the exported model folder ``run/model``.

    Args:
        init: A trained StemProver model (name or folder) to start from instead of random
            weights (see :func:`warm_start`); ignored when the run resumes from a checkpoint.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    accelerator = Accelerator(
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)]
    )
    torch.manual_seed(cfg.train.seed)
    run.mkdir(parents=True, exist_ok=True)
    saved = run / "config.json"
    # Resuming may change the training schedule (steps, lr, ...) but not the model.
    if saved.exists() and json.loads(saved.read_text())["model"] != to_dict(cfg)["model"]:
        raise StemProverError("run folder holds a different model config; use a new --out", run)
    saved.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    model = StemProverModel(cfg.model, vae=base_vae(base_model)).to(accelerator.device)
    if base_model is not None:
        load_base_unet(model, base_model)
    if init is not None and not (run / "checkpoints").exists():  # a resume loads its own
        warm_start(model, init)
    mixture = cfg.model.denoiser.mixture
    data = PairCrops(
        pairs,
        "train",
        cfg.model.sample_rate,
        cfg.train.segment_seconds,
        identity=cfg.train.identity_pairs,
        mixture=mixture,
    )
    valid = _maybe(
        lambda: PairCrops(
            pairs, "valid", cfg.model.sample_rate, cfg.train.segment_seconds, mixture=mixture
        )
    )
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    ae, rest = model.autoencoder, [model.denoiser, model.control]
    stages = []
    if cfg.train.stage in ("autoencoder", "both") and model.autoencoder.vae is not None:
        stages.append(
            Stage(
                "autoencoder",
                cfg.train.ae_steps,
                list(ae.parameters()),
                autoencoder_loss(model, cfg),
            )
        )
    if cfg.train.stage in ("denoiser", "both"):
        params = [p for m in rest for p in m.parameters()]
        stages.append(Stage("denoiser", cfg.train.steps, params, denoiser_loss(model, cfg)))
    if not stages:
        raise StemProverError(
            f"train.stage must be autoencoder, denoiser or both, got {cfg.train.stage!r}"
        )
    for stage in stages:
        if stage.name == "denoiser":
            if float(model.autoencoder.latent_scale) == 1.0:
                scale = set_latent_scale(model, data)
                ema.autoencoder.latent_scale.fill_(scale)
            ae.requires_grad_(False)
        _run_stage(stage, model, ema, cfg, data, valid, run, accelerator, progress)
        if stage.name == "autoencoder":  # the denoiser builds on the EMA autoencoder
            model.autoencoder.load_state_dict(ema.autoencoder.state_dict())
    out = run / "model"
    if accelerator.is_main_process:
        ema.save(out)
    return out


def train_adapter(
    cfg: RunConfig,
    pairs: Path | Sequence[Path],
    run: Path,
    base: str,
    name: str,
    progress: bool = True,
) -> Path:
    """Train a LoRA adapter for artifact ``name`` on a frozen base model, on pairs that have
    that artifact (and are of ``adapter.stems``' types, when given), mild to severe. Returns
    the adapter folder ``run/adapter/<adapter name>``: ``bleed``, or ``bleed-drums`` for a
    per-stem one (:func:`~stemprover.models.lora.adapter_name`)."""
    from accelerate import Accelerator

    from stemprover.data.artifacts import ARTIFACTS
    from stemprover.models import lora
    from stemprover.models.base import load_model
    from stemprover.vocabulary import SEPARATED_STEMS as STEM_TYPES

    if name not in ARTIFACTS:
        raise StemProverError(f"adapter name must be an artifact type: {', '.join(ARTIFACTS)}")
    stems = cfg.adapter.stems
    unknown = [s for s in stems if s not in STEM_TYPES]
    if unknown:  # before the model loads
        raise StemProverError(f"unknown stem types {unknown} (choose from {', '.join(STEM_TYPES)})")
    accelerator = Accelerator()
    torch.manual_seed(cfg.train.seed)
    model = load_model(base, adapters="none")
    if not isinstance(model, StemProverModel):
        raise StemProverError(f"adapters need a trained StemProver model, not {base!r}")
    if to_dict(model.config) != to_dict(cfg.model):
        cfg = RunConfig(
            model=model.config,
            loss=cfg.loss,
            train=cfg.train,
            adapter=cfg.adapter,
            segment=cfg.segment,
        )
    fingerprint = lora.base_fingerprint(model)
    model = model.to(accelerator.device).train()
    adapter = lora.adapter_name(name, stems)
    params = lora.add_adapter(model, adapter, cfg.adapter)
    lora.set_weights(model, {adapter: 1.0})

    def wanted(record: dict) -> bool:
        return name in record["artifacts"] and (not stems or record["stem"] in stems)

    data = PairCrops(
        pairs,
        "train",
        cfg.model.sample_rate,
        cfg.train.segment_seconds,
        where=wanted,
        curriculum=(name, cfg.adapter.curriculum_start),
        identity=cfg.adapter.identity_pairs,
        mixture=model.uses_mixture,
        what=f"pairs with {name}" + (f" on {'/'.join(stems)} stems" if stems else ""),
    )
    valid = _maybe(
        lambda: PairCrops(
            pairs,
            "valid",
            cfg.model.sample_rate,
            cfg.train.segment_seconds,
            where=wanted,
            mixture=model.uses_mixture,
        )
    )
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    run.mkdir(parents=True, exist_ok=True)
    stage = Stage(f"adapter-{adapter}", cfg.train.steps, params, denoiser_loss(model, cfg))
    _run_stage(stage, model, ema, cfg, data, valid, run, accelerator, progress)
    return lora.save_adapter(ema, name, cfg.adapter, run / "adapter" / adapter, fingerprint)
