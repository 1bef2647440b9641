"""Where a training run starts from: a trained StemProver model (``train --init``, also into
a wider one that reads the mixture), or diffusers folders (``--base-model``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from stemprover.errors import StemProverError
from stemprover.models.base import load_model
from stemprover.models.enhancer import StemProverModel

# Tensors that a wider model (the mixture's inputs and gain head) extends along one dimension.
_WIDENED = {"control.conv_in.weight": 1, "denoiser.conv_out.weight": 0, "denoiser.conv_out.bias": 0}


def _wider(mine: torch.Tensor, value: torch.Tensor, dim: int) -> bool:
    others = [d for d in range(mine.ndim) if d != dim]
    return (
        mine.ndim == value.ndim
        and mine.shape[dim] > value.shape[dim]
        and all(mine.shape[d] == value.shape[d] for d in others)
    )


def warm_start(model: StemProverModel, source: str | Path) -> None:
    """Copy a trained model's weights into ``model``: every tensor of the same name and shape,
    the control branch's input convolution into its first channels when ``model`` reads more
    inputs (the mixture's, which stay at zero), and the denoiser's output convolution into its
    first channels when ``model`` has the mixture's gain head (which stays at zero). The
    result computes what ``source`` does.

    Raises:
        StemProverError: ``source`` is not a StemProver model, or a tensor has another shape.
    """

    src = load_model(source, adapters="none")
    if not isinstance(src, StemProverModel):
        raise StemProverError(f"--init needs a trained StemProver model, not {source!r}")
    target = model.state_dict()
    mismatched = []
    with torch.no_grad():
        for name, value in src.state_dict().items():
            mine = target.get(name)
            if mine is not None and mine.shape == value.shape:
                mine.copy_(value)
            elif mine is not None and name in _WIDENED and _wider(mine, value, _WIDENED[name]):
                mine.zero_()
                mine.narrow(_WIDENED[name], 0, value.shape[_WIDENED[name]]).copy_(value)
            else:
                mismatched.append(name)
    missing = sorted(set(target) - set(src.state_dict()))
    if mismatched or missing:
        raise StemProverError(
            f"--init model does not fit this config: {len(mismatched)} tensors of another "
            f"shape ({', '.join(mismatched[:3])}), {len(missing)} missing ({', '.join(missing[:3])})",
            source,
        )


def base_vae(base: Path | None):
    """An AutoencoderKL from ``base`` (a diffusers folder, or one with a ``vae/`` subfolder)."""
    if base is None:
        return None
    from diffusers import AutoencoderKL

    for folder in (base / "vae", base):
        cfg = folder / "config.json"
        if cfg.exists() and json.loads(cfg.read_text()).get("_class_name") == "AutoencoderKL":
            return AutoencoderKL.from_pretrained(folder)
    return None


def load_base_unet(model: StemProverModel, base: Path) -> None:
    """Copy matching weights from a diffusers UNet2DModel (``base`` or ``base/unet``)."""
    from diffusers import UNet2DModel

    for folder in (base / "unet", base):
        cfg = folder / "config.json"
        if cfg.exists() and json.loads(cfg.read_text()).get("_class_name") == "UNet2DModel":
            source = UNet2DModel.from_pretrained(folder).state_dict()
            target = model.denoiser.state_dict()
            matched = {
                k: v for k, v in source.items() if k in target and target[k].shape == v.shape
            }
            if not matched:
                raise StemProverError(
                    "base UNet shares no weights with this denoiser config", folder
                )
            model.denoiser.load_state_dict(matched, strict=False)
            return
    if base_vae(base) is None:
        raise StemProverError("no diffusers AutoencoderKL or UNet2DModel found", base)
