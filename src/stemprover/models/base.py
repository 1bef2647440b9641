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


def load_model(name_or_path: str | Path) -> SpectralModel:
    """A built-in model by name, or a trained model from a checkpoint folder.

    Raises:
        StemProverError: unknown name, or a path that holds no StemProver model.
    """
    name = str(name_or_path)
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]()
    path = Path(name)
    if not path.exists():
        raise StemProverError(
            f"unknown model {name!r}: not a built-in ({', '.join(sorted(BUILTIN_MODELS))}) "
            "and no such file or folder"
        )
    raise StemProverError("no StemProver model checkpoint found here", path)
