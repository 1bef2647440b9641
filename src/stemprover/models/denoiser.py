"""The latent denoiser: a UNet assembled from diffusers blocks, with control inputs, band
embeddings and attention along frequency within bands.

It predicts the clean residual r0 between the clean and the artifacted latent (diffusers
``prediction_type="sample"``), so the decoded estimate can carry spectral losses during
training and ``--steps 0`` is one forward pass.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stemprover.audio.bands import BANDS, band_of_hz
from stemprover.config import DenoiserConfig


def row_bands(rows: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Band index of each latent frequency row (by its centre frequency).

    Shape:
        returns ``(rows,)`` long; rows cover the ``n_fft // 2`` bins below Nyquist evenly.
    """
    per_row = (n_fft // 2) / rows
    centre_hz = (np.arange(rows) + 0.5) * per_row * sample_rate / n_fft
    return torch.from_numpy(band_of_hz(centre_hz)).long()


class BandAttention(nn.Module):
    """Self-attention along frequency, each row attending only to rows of its own band.

    Time frames are independent (folded into the batch). The output projection starts at
    zero so the block begins as the identity.

    Shape:
        ``(B, C, F, N)`` -> ``(B, C, F, N)``.
    """

    def __init__(self, channels: int, heads: int, bands: torch.Tensor) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)
        self.register_buffer("blocked", bands[:, None] != bands[None, :], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, n = x.shape
        seq = x.permute(0, 3, 2, 1).reshape(b * n, f, c)  # (B*N, F, C)
        h = self.norm(seq)
        out, _ = self.attn(h, h, h, attn_mask=self.blocked, need_weights=False)
        return x + out.reshape(b, n, f, c).permute(0, 3, 2, 1)  # (B, C, F, N)


class LatentDenoiser(nn.Module):
    """UNet over latents ``(B, L, F, N)``; predicts the clean latent.

    Args:
        cfg: Block sizes and the band options.
        latent_channels: L.
        latent_rows: F, the latent's frequency rows (for band embeddings and attention).
        n_fft, sample_rate: Map latent rows to bands.
    """

    def __init__(
        self,
        cfg: DenoiserConfig,
        latent_channels: int,
        latent_rows: int,
        n_fft: int,
        sample_rate: int,
    ) -> None:
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps
        from diffusers.models.unets.unet_2d_blocks import (
            UNetMidBlock2D,
            get_down_block,
            get_up_block,
        )

        ch, groups, layers = cfg.block_out_channels, cfg.norm_num_groups, cfg.layers_per_block
        temb = ch[0] * 4
        self.time_proj = Timesteps(ch[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        inputs = 2 * latent_channels if cfg.concat_condition else latent_channels
        self.conv_in = nn.Conv2d(inputs, ch[0], 3, padding=1)
        self.concat_condition = cfg.concat_condition
        bands = row_bands(latent_rows, n_fft, sample_rate)
        self.band_embedding = nn.Embedding(len(BANDS), ch[0]) if cfg.band_embedding else None
        self.register_buffer("rows_band", bands, persistent=False)
        self.down_blocks = nn.ModuleList()
        prev = ch[0]
        for i, out in enumerate(ch):
            self.down_blocks.append(
                get_down_block(
                    "DownBlock2D",
                    num_layers=layers,
                    in_channels=prev,
                    out_channels=out,
                    temb_channels=temb,
                    add_downsample=i < len(ch) - 1,
                    resnet_eps=1e-6,
                    resnet_act_fn="silu",
                    resnet_groups=groups,
                    downsample_padding=1,
                    attention_head_dim=8,
                )
            )
            prev = out
        self.mid_block = UNetMidBlock2D(ch[-1], temb, resnet_groups=groups, add_attention=False)
        mid_rows = latent_rows // 2 ** (len(ch) - 1)
        self.band_attention = (
            BandAttention(ch[-1], cfg.attention_heads, row_bands(mid_rows, n_fft, sample_rate))
            if cfg.band_attention
            else None
        )
        rev = list(reversed(ch))
        self.up_blocks = nn.ModuleList()
        for i in range(len(rev)):
            self.up_blocks.append(
                get_up_block(
                    "UpBlock2D",
                    num_layers=layers + 1,
                    in_channels=rev[min(i + 1, len(rev) - 1)],
                    out_channels=rev[i],
                    prev_output_channel=rev[max(i - 1, 0)],
                    temb_channels=temb,
                    add_upsample=i < len(rev) - 1,
                    resnet_eps=1e-6,
                    resnet_act_fn="silu",
                    resnet_groups=groups,
                    attention_head_dim=8,
                )
            )
        self.conv_norm_out = nn.GroupNorm(groups, ch[0])
        if cfg.output not in ("gain", "log_gain", "residual"):
            raise ValueError(
                f"denoiser.output must be 'gain', 'log_gain' or 'residual', got {cfg.output!r}"
            )
        if cfg.mixture_gain and (cfg.output == "residual" or not cfg.mixture):
            raise ValueError("denoiser.mixture_gain needs mixture: true and a gain output")
        # residual; or gain logits and correction (and the mixture's gain logits)
        heads = 1 if cfg.output == "residual" else 3 if cfg.mixture_gain else 2
        self.conv_out = nn.Conv2d(ch[0], heads * latent_channels, 3, padding=1)
        # Zero output: with the model's preconditioning the untrained model passes its input.
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        control: list[torch.Tensor] | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Shape: x, cond ``(B, L, F, N)``, t ``(B,)`` or scalar -> ``(B, L·heads, F, N)``.

        ``cond`` is read only with ``concat_condition`` (and then required).
        """
        t = t.expand(x.shape[0]) if t.ndim else t.reshape(1).expand(x.shape[0])
        emb = self.time_embedding(self.time_proj(t).to(x.dtype))  # (B, temb)
        h = self.conv_in(torch.cat([x, cond], dim=1) if self.concat_condition else x)
        if self.band_embedding is not None:
            h = h + self.band_embedding(self.rows_band).T[None, :, :, None]  # (1, C, F, 1)
        skips = [h]
        for block in self.down_blocks:
            h, res = block(hidden_states=h, temb=emb)
            skips += list(res)
        h = self.mid_block(h, emb)
        if control is not None:
            *ctrl_skips, ctrl_mid = control
            skips = [s + c for s, c in zip(skips, ctrl_skips, strict=True)]
            h = h + ctrl_mid
        if self.band_attention is not None:
            h = self.band_attention(h)
        for block in self.up_blocks:
            res, skips = skips[-len(block.resnets) :], skips[: -len(block.resnets)]
            h = block(h, tuple(res), emb)
        return self.conv_out(nn.functional.silu(self.conv_norm_out(h)))
