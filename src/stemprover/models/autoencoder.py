"""Complex-spectrogram autoencoder: (real, imag) of the compressed STFT <-> a latent.

A diffusers ``AutoencoderKL`` does the work; this wrapper turns a complex spectrogram into its
two-channel image (the Nyquist bin is dropped so the frequency axis divides evenly, and the
time axis is padded to a multiple of the total downsampling) and scales latents to unit
variance, as latent diffusion does (Rombach et al. 2022, sec. 3.1).
"""

from __future__ import annotations

import torch
from torch import nn

from stemprover.config import AutoencoderConfig

# Compressed STFT magnitudes of full-scale audio reach ~30; this keeps inputs near unit range.
INPUT_SCALE = 0.25


def build_vae(cfg: AutoencoderConfig):
    from diffusers import AutoencoderKL

    levels = len(cfg.block_out_channels)
    return AutoencoderKL(
        in_channels=2 * cfg.patch**2,
        out_channels=2 * cfg.patch**2,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=cfg.block_out_channels,
        layers_per_block=cfg.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.norm_num_groups,
        sample_size=64,
        # Global attention over a whole segment at latent resolution costs O((F·N)²) and
        # dominated inference time; the denoiser attends within bands instead.
        mid_block_add_attention=False,
    )


class SpecAutoencoder(nn.Module):
    """Encode and decode compressed complex spectrograms.

    Args:
        cfg: Autoencoder settings.
        vae: An existing ``AutoencoderKL`` (e.g. from ``--base-model``); built from ``cfg``
            when ``None``.
    """

    def __init__(self, cfg: AutoencoderConfig, vae=None) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch = cfg.patch
        if cfg.kind == "patch":
            self.vae = None
            self.factor, self.latent_channels = cfg.patch, 2 * cfg.patch**2
        elif cfg.kind == "vae":
            self.vae = vae if vae is not None else build_vae(cfg)
            self.factor = cfg.patch * 2 ** (len(self.vae.config.block_out_channels) - 1)
            self.latent_channels = self.vae.config.latent_channels
        else:
            raise ValueError(f"autoencoder.kind must be 'vae' or 'patch', got {cfg.kind!r}")
        # Set from data before denoiser training; saved with the weights.
        self.register_buffer("latent_scale", torch.ones(()))

    @staticmethod
    def to_image(spec: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, F, N)`` complex -> ``(B, 2, F - 1, N)`` real (Nyquist bin dropped)."""
        spec = spec[:, :-1]  # (B, F-1, N)
        return torch.stack([spec.real, spec.imag], dim=1) * INPUT_SCALE

    @staticmethod
    def from_image(image: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, 2, F - 1, N)`` -> ``(B, F, N)`` complex, Nyquist bin zero."""
        spec = torch.complex(image[:, 0], image[:, 1]) / INPUT_SCALE  # (B, F-1, N)
        return torch.nn.functional.pad(spec, (0, 0, 0, 1))

    def encode_image(self, image: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Shape: ``(B, 2, F', N)`` -> ``(B, L, F'/f, N/f)``, unscaled."""
        # Lossless space-to-depth first: the VAE then runs at 1/patch² of the pixels, the
        # largest single speed lever on CPU.
        image = nn.functional.pixel_unshuffle(image, self.patch)  # (B, 2p², F'/p, N/p)
        if self.vae is None:
            return image
        dist = self.vae.encode(image).latent_dist
        return dist.sample() if sample else dist.mode()

    def encode(self, spec: torch.Tensor) -> torch.Tensor:
        """Scaled latent of a spectrogram whose frame count divides by ``self.factor``.

        Shape:
            ``(B, F, N)`` complex -> ``(B, L, (F-1)/f, N/f)``.
        """
        return self.encode_image(self.to_image(spec)) * self.latent_scale

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Shape: ``(B, L, F'', N'')`` -> ``(B, F, N)`` complex."""
        return self.from_image(self.decode_image(latent / self.latent_scale))

    def decode_image(self, latent: torch.Tensor) -> torch.Tensor:
        """Unscaled latent to image. Shape: ``(B, L, F'', N'')`` -> ``(B, 2, F', N)``."""
        if self.vae is None:
            return nn.functional.pixel_shuffle(latent, self.patch)
        return nn.functional.pixel_shuffle(self.vae.decode(latent).sample, self.patch)
