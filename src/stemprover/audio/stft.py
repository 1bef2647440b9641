"""Phase-aware STFT: the only place STFT settings live.

Amplitude compression follows the complex-spectrogram enhancement literature
(Braun & Tashev 2021, "A consolidated view of loss functions for supervised deep
learning-based speech enhancement", eq. 3): ``|X|^a · e^{jφ}`` keeps the phase and
compresses the dynamic range so a network sees quiet partials; ``a = 1`` disables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions below: configs are built (and the CLI checks its
# arguments) before torch loads.
WINDOWS = ("hann", "hamming", "blackman")


def _window(name: str, n_fft: int, dtype, device) -> torch.Tensor:
    import torch

    return getattr(torch, f"{name}_window")(n_fft, dtype=dtype, device=device)


@dataclass(frozen=True)
class StftConfig:
    """STFT settings.

    Attributes:
        n_fft: FFT size in samples; gives ``n_fft // 2 + 1`` frequency bins.
        hop: Hop in samples; ``n_fft / hop >= 2`` keeps the Hann OLA perfect.
        window: One of :data:`WINDOWS`.
        compress: Exponent ``a`` of the magnitude compression.
    """

    n_fft: int = 1024
    hop: int = 256
    window: str = "hann"
    compress: float = 0.5

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"stft.window must be one of {sorted(WINDOWS)}, got {self.window!r}")
        if not 0 < self.hop <= self.n_fft // 2:
            raise ValueError(f"stft.hop must be in (0, n_fft/2], got {self.hop}")
        if not 0 < self.compress <= 1:
            raise ValueError(f"stft.compress must be in (0, 1], got {self.compress}")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1


def stft(x: torch.Tensor, cfg: StftConfig) -> torch.Tensor:
    """Complex STFT over the last axis.

    Shape:
        x: ``(..., T)`` real -> ``(..., F, N)`` complex, ``F = n_fft // 2 + 1``,
        ``N = T // hop + 1``.
    """
    *other, length = x.shape
    import torch

    window = _window(cfg.window, cfg.n_fft, x.dtype, x.device)
    z = torch.stft(
        x.reshape(-1, length),
        cfg.n_fft,
        cfg.hop,
        window=window,
        center=True,
        pad_mode="reflect" if length > cfg.n_fft // 2 else "constant",
        return_complex=True,
    )  # (B, F, N)
    return z.reshape(*other, *z.shape[-2:])


def istft(z: torch.Tensor, cfg: StftConfig, length: int) -> torch.Tensor:
    """Inverse of :func:`stft`, trimmed or padded to ``length`` samples.

    Shape:
        z: ``(..., F, N)`` complex -> ``(..., length)`` real.
    """
    *other, bins, frames = z.shape
    import torch

    window = _window(cfg.window, cfg.n_fft, z.real.dtype, z.device)
    x = torch.istft(
        z.reshape(-1, bins, frames), cfg.n_fft, cfg.hop, window=window, center=True, length=length
    )  # (B, T)
    return x.reshape(*other, length)


def power(z: torch.Tensor) -> torch.Tensor:
    """``|z|²`` (a complex or real tensor), without the square root of ``abs`` (~3x faster
    on complex tensors; differentiable everywhere)."""
    return z.real.square() + z.imag.square() if z.is_complex() else z.square()


def magnitude(z: torch.Tensor) -> torch.Tensor:
    """``|z|`` of a complex tensor as ``sqrt(re² + im²)``: ~3x faster than ``abs`` on the CPU,
    equal to float rounding (2e-7 relative). Not for gradients (infinite at 0)."""
    return power(z).sqrt()


def compress(z: torch.Tensor, cfg: StftConfig) -> torch.Tensor:
    """``|z|^a · e^{jφ}``; zero stays zero. Shape-preserving."""
    import torch

    if cfg.compress == 1:
        return z
    mag = z.abs()
    return torch.polar(mag.pow(cfg.compress), z.angle())


def decompress(z: torch.Tensor, cfg: StftConfig) -> torch.Tensor:
    """Exact inverse of :func:`compress`. Shape-preserving."""
    import torch

    if cfg.compress == 1:
        return z
    return torch.polar(z.abs().pow(1 / cfg.compress), z.angle())


def frames_for(length: int, cfg: StftConfig) -> int:
    """Number of STFT frames for ``length`` samples."""
    return length // cfg.hop + 1


# The 46 ms (at 44.1 kHz) analysis STFT shared by the artifact simulators, the mask
# separator, the baselines, the metrics and the detectors: a typical separator window.
ANALYSIS_STFT = StftConfig(n_fft=2048, hop=512, compress=1.0)


def stft_np(x, cfg: StftConfig = ANALYSIS_STFT):
    """:func:`stft` for float64 numpy arrays (data making, baselines, metrics, analysis).

    Shape:
        ``(..., T)`` -> ``(..., F, N)`` complex128.
    """
    import numpy as np
    import torch

    return stft(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), cfg).numpy()


def istft_np(z, length: int, cfg: StftConfig = ANALYSIS_STFT):
    """:func:`istft` for complex numpy arrays. Shape: ``(..., F, N)`` -> ``(..., length)``."""
    import torch

    return istft(torch.from_numpy(z), cfg, length).numpy()
