"""ControlNet-style control branch with phase-aware zero convolutions.

The branch sees only the condition (the artifacted stem's latent, and with
``denoiser.mixture`` the mixture's), so its features are computed once per segment and
reused at every denoising step. Its outputs join the denoiser's
skip connections through zero-initialised convolutions (Zhang et al. 2023, "Adding
Conditional Control to Text-to-Image Diffusion Models", sec. 3.1): at initialisation the
control changes nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from stemprover.config import DenoiserConfig


class PhaseAwareZeroConv(nn.Module):
    """A zero-initialised 1×1 complex convolution over (real, imaginary) channel pairs.

    Channels ``[0, C/2)`` are read as real parts and ``[C/2, C)`` as imaginary parts of C/2
    complex features; the weight is one complex matrix ``W = Wr + jWi``, so each output pair
    mixes both parts of every input pair jointly (a rotation and scaling, not two independent
    real maps): ``out = (Wr·a − Wi·b) + j(Wi·a + Wr·b)``.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``, ``C`` even.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        assert channels % 2 == 0, "phase-aware convolution needs an even channel count"
        half = channels // 2
        self.weight_real = nn.Parameter(torch.zeros(half, half))
        self.weight_imag = nn.Parameter(torch.zeros(half, half))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)  # (B, C/2, H, W) each
        wr, wi = self.weight_real, self.weight_imag
        real = torch.einsum("oi,bihw->bohw", wr, a) - torch.einsum("oi,bihw->bohw", wi, b)
        imag = torch.einsum("oi,bihw->bohw", wi, a) + torch.einsum("oi,bihw->bohw", wr, b)
        return torch.cat([real, imag], dim=1) + self.bias[None, :, None, None]


def log_magnitude(latent: torch.Tensor) -> torch.Tensor:
    """Log magnitude of each (real, imaginary) channel pair, relative to the item's loudest.

    Pairs follow :class:`PhaseAwareZeroConv`'s layout (first half real, second half
    imaginary). ``log10`` of the power ratio over 5, floored at -100 dB: about ``[-2, 0]``,
    and unchanged by the item's gain.

    Shape: ``(B, C, H, W)`` -> ``(B, C/2, H, W)``.
    """
    a, b = latent.chunk(2, dim=1)
    power = a**2 + b**2
    peak = power.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-20)
    return torch.log10(power / peak + 1e-10) / 5


class ControlBranch(nn.Module):
    """A copy of the denoiser's encoder path, without time input, fed by the condition.

    Returns one feature map per denoiser skip connection plus one for the mid block, each
    through its own :class:`PhaseAwareZeroConv`.
    """

    def __init__(self, cfg: DenoiserConfig, latent_channels: int) -> None:
        super().__init__()
        from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D, get_down_block

        ch = cfg.block_out_channels
        self.log_magnitude, self.mixture = cfg.log_magnitude, cfg.mixture
        self.per_input = latent_channels + (latent_channels // 2 if cfg.log_magnitude else 0)
        inputs = self.per_input * (2 if cfg.mixture else 1)
        self.conv_in = nn.Conv2d(inputs, ch[0], 3, padding=1)
        with torch.no_grad():  # the mixture's channels start at zero: no change at init
            self.conv_in.weight[:, self.per_input :].zero_()
        self.down_blocks = nn.ModuleList()
        zero = [PhaseAwareZeroConv(ch[0])]
        prev = ch[0]
        for i, out in enumerate(ch):
            last = i == len(ch) - 1
            self.down_blocks.append(
                get_down_block(
                    "DownBlock2D",
                    num_layers=cfg.layers_per_block,
                    in_channels=prev,
                    out_channels=out,
                    temb_channels=None,
                    add_downsample=not last,
                    resnet_eps=1e-6,
                    resnet_act_fn="silu",
                    resnet_groups=cfg.norm_num_groups,
                    downsample_padding=1,
                    attention_head_dim=8,
                )
            )
            zero += [PhaseAwareZeroConv(out) for _ in range(cfg.layers_per_block + (not last))]
            prev = out
        self.mid_block = UNetMidBlock2D(
            ch[-1], temb_channels=None, resnet_groups=cfg.norm_num_groups, add_attention=False
        )
        self.zero_convs = nn.ModuleList(zero)
        self.mid_zero = PhaseAwareZeroConv(ch[-1])

    def _features(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.cat([latent, log_magnitude(latent)], 1) if self.log_magnitude else latent

    def forward(self, cond: torch.Tensor, mix: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Shape: cond, mix ``(B, L, H, W)`` -> list of ``(B, C_k, H_k, W_k)``, mid block last.

        Args:
            mix: The mixture's latent, for a branch built with ``denoiser.mixture``; ``None``
                (no mixture) feeds zeros. Items whose mixture is all zeros count as absent.
        """
        x = self._features(cond)
        if self.mixture:
            if mix is None:
                extra = torch.zeros_like(x)
            else:  # absent mixtures (zeros) stay zeros, log magnitude included
                present = mix.flatten(1).abs().amax(1) > 0  # (B,)
                extra = self._features(mix) * present[:, None, None, None]
            x = torch.cat([x, extra], 1)
        h = self.conv_in(x)
        feats = [h]
        for block in self.down_blocks:
            h, res = block(hidden_states=h, temb=None)
            feats += list(res)
        h = self.mid_block(h, None)
        return [z(f) for z, f in zip(self.zero_convs, feats, strict=True)] + [self.mid_zero(h)]
