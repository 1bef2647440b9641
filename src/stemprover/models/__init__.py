"""Models that map an artifacted compressed complex spectrogram to a cleaned one."""

from stemprover.models.base import NullModel, SpectralModel, load_model

__all__ = ["NullModel", "SpectralModel", "load_model"]
