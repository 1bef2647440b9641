"""The model interface the enhance pipeline drives, the identity model, and model loading."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from stemprover.audio.stft import StftConfig
from stemprover.errors import StemProverError


@runtime_checkable
class SpectralModel(Protocol):
    """What :class:`~stemprover.pipeline.EnhancePipeline` needs from a model.

    Attributes:
        stft: The STFT the model was trained with.
        sample_rate: The rate the model works at; ``None`` works at any rate.
    """

    stft: StftConfig
    sample_rate: int | None

    def enhance(self, spec: torch.Tensor) -> torch.Tensor:
        """Clean a compressed complex spectrogram.

        Shape:
            spec: ``(B, F, N)`` complex, ``F = stft.bins``; returns the same shape.
        """
        ...

    def to(self, device: torch.device) -> SpectralModel: ...


class NullModel:
    """The identity: runs the whole enhance path and must give the input back (the null test)."""

    sample_rate = None

    def __init__(self, stft: StftConfig | None = None) -> None:
        self.stft = stft or StftConfig()

    def enhance(self, spec: torch.Tensor) -> torch.Tensor:
        return spec

    def to(self, device: torch.device) -> NullModel:
        return self


BUILTIN_MODELS = {"null": NullModel}
BUNDLED = Path(__file__).resolve().parent.parent / "weights"


def bundled_models() -> dict[str, Path]:
    """Models shipped inside the package: ``{name: folder}``."""
    if not BUNDLED.is_dir():
        return {}
    return {p.name: p for p in sorted(BUNDLED.iterdir()) if (p / "config.json").exists()}


def load_model(name_or_path: str | Path, **sampling) -> SpectralModel:
    """A built-in or bundled model by name, or a trained model from its folder.

    Args:
        sampling: Sampling settings for diffusion models (steps, strength, seed, scheduler);
            ``None`` values keep the model's defaults. Ignored by the null model.

    Raises:
        StemProverError: unknown name, a path that holds no StemProver model, a model of the
            wrong kind or version, or a pickle file.
    """
    name = str(name_or_path)
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]()
    bundled = bundled_models()
    path = bundled.get(name, Path(name))
    if not path.exists():
        known = sorted([*BUILTIN_MODELS, *bundled])
        raise StemProverError(
            f"unknown model {name!r}: not one of {', '.join(known)} and no such path"
        )
    from stemprover.models.enhancer import StemProverModel, refuse_pickle

    if path.is_file():
        refuse_pickle(path)
        if path.suffix != ".safetensors":
            raise StemProverError("expected a model folder (config.json + model.safetensors)", path)
        path = path.parent
    return StemProverModel.load(path).configure(**sampling)
