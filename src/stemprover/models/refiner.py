"""The refiner's predictive stage: a band-split mask network that reads the stem, the mixture
and (in song mode) the song's other stems.

Per STFT bin it outputs a bounded complex mask ``M`` on the mixture ``X`` and a confidence
``g`` that moves the output from the stem ``S`` towards ``M·X``::

    Y = (1 − g)·S + g·M·X,    g = tanh(a) ∈ (−1, 1),    |M| ≤ 1

Both heads start at zero, so the untrained network returns its input stem exactly; ``g`` is
the model's learned confidence in its own correction (0: "leave this bin alone"), which the
research log reports per input-quality bin. Without a mixture ``X`` is the stem itself (a
mask on the stem alone); without siblings their input channels are zero and a flag says so.

Frequency is split into sub-bands of the project's perceptual band table, finer where the
ear is (:func:`~stemprover.audio.bands.split_bands`); each sub-band has its own input
projection and output head (band-split RNN, Luo & Yu 2023). Between them, blocks of: a
dilated convolution along time (shared by all sub-bands), attention across the sub-bands of
each frame, and a song-segment context (the time-mean of each sub-band's features, fed back),
which is where a judgement of the whole input's quality can form.

Shape conventions: complex spectrograms ``(B, F, N)``, ``F = n_fft // 2 + 1``; sibling power
``(B, F, N)`` real (the sum of the other stems' ``|STFT|²``).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import torch
from torch import nn

from stemprover.audio.bands import split_bands
from stemprover.config import RefinerConfig, from_dict, to_dict
from stemprover.models.serialization import (
    WEIGHTS_FILE,
    load_into,
    load_state,
    read_meta,
    save_module,
)

FEATURES = 8  # per bin; see RefinerNet.features
EPS = 1e-8


class _Block(nn.Module):
    """Dilated depthwise-separable convolution along time, attention across sub-bands, and a
    segment-mean context, each residual. Shape: ``(B, K, N, D)`` -> same."""

    def __init__(self, width: int, kernel: int, dilation: int, heads: int) -> None:
        super().__init__()
        self.norm_t = nn.LayerNorm(width)
        self.depth = nn.Conv1d(
            width,
            width,
            kernel,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            groups=width,
        )
        self.point = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )
        self.norm_f = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm_g = nn.LayerNorm(width)
        self.context = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, K, N, D = h.shape
        x = self.norm_t(h).reshape(B * K, N, D).transpose(1, 2)  # (BK, D, N)
        x = self.depth(x).transpose(1, 2).reshape(B, K, N, D)
        h = h + self.point(x)
        x = self.norm_f(h).transpose(1, 2).reshape(B * N, K, D)
        x, _ = self.attn(x, x, x, need_weights=False)
        h = h + x.reshape(B, N, K, D).transpose(1, 2)
        g = self.norm_g(h).mean(dim=2, keepdim=True)  # (B, K, 1, D): the segment's context
        return h + self.context(g)


class RefinerNet(nn.Module):
    """The predictive stage (see the module docstring)."""

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ranges = split_bands(cfg.stft.n_fft, cfg.sample_rate) if cfg.band_split else None
        if ranges is None:  # ablation: one uniform split into equal-width bands
            bins, k = cfg.stft.bins, 32
            edges = [round(i * bins / k) for i in range(k + 1)]
            ranges = list(pairwise(edges))
        self.ranges = ranges
        self.proj = nn.ModuleList(
            nn.Sequential(nn.Linear((hi - lo) * FEATURES, cfg.width), nn.LayerNorm(cfg.width))
            for lo, hi in ranges
        )
        self.blocks = nn.ModuleList(
            _Block(cfg.width, cfg.kernel, 2**i, cfg.heads) for i in range(cfg.blocks)
        )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(cfg.width, cfg.width), nn.GELU(), nn.Linear(cfg.width, (hi - lo) * 3)
            )
            for lo, hi in ranges
        )
        for head in self.heads:  # untrained: g = 0, so Y = S exactly
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)

    @staticmethod
    def features(
        s: torch.Tensor, x: torch.Tensor | None, others: torch.Tensor | None
    ) -> torch.Tensor:
        """Level-invariant per-bin inputs. Shape: ``(B, F, N)`` -> ``(B, F, N, FEATURES)``.

        Log powers of the stem, the mixture, the rest of the mixture (``X − S``) and the
        siblings, relative to the mixture's mean log power; the stem's share of the
        stem-plus-siblings power (the multichannel Wiener gain); the phase of ``S`` relative
        to ``X``; and two flags (mixture given, siblings given).
        """
        B = s.shape[0]
        has_mix = x is not None
        x = s if x is None else x
        ps, px, pr = s.abs() ** 2, x.abs() ** 2, (x - s).abs() ** 2
        ref = torch.log(px + EPS).mean(dim=(1, 2), keepdim=True)
        ls, lx, lr = (torch.log(p + EPS) - ref for p in (ps, px, pr))
        zeros = torch.zeros_like(ls)
        if others is None:
            lo, share, has_sib = zeros, zeros, 0.0
        else:
            lo = torch.log(others + EPS) - ref
            share = ps / (ps + others + EPS)
            has_sib = 1.0
        rel = s * x.conj()
        cos = torch.real(rel) / (rel.abs() + EPS)
        flags = torch.ones_like(ls)
        return torch.stack(
            [
                ls / 10,
                lx / 10,
                lr / 10,
                lo / 10,
                share,
                cos,
                flags * float(has_mix),
                flags * has_sib,
            ],
            dim=-1,
        ).reshape(B, *ls.shape[1:], FEATURES)

    @staticmethod
    def prior_mask(
        s: torch.Tensor, x: torch.Tensor | None, others: torch.Tensor | None
    ) -> torch.Tensor:
        """The classical estimate the mask starts from (``mask_prior``): with the siblings the
        multichannel Wiener gain ``|S|²/(|S|² + Σ|S_k|²)`` on the mixture; with the mixture
        alone the stem's magnitude with the mixture's phase (``min(|S|/|X|, 1)``); alone, 1.
        Shape: ``(B, F, N)`` -> ``(B, F, N)`` real."""
        if x is None:
            return torch.ones_like(s.real)
        ps = s.abs() ** 2
        if others is not None:
            return ps / (ps + others + EPS)
        return torch.clamp(s.abs() / (x.abs() + EPS), max=1.0)

    def forward(
        self,
        s: torch.Tensor,
        x: torch.Tensor | None = None,
        others: torch.Tensor | None = None,
        return_gate: bool = False,
    ):
        """Shape: s, x ``(B, F, N)`` complex, others ``(B, F, N)`` real -> ``(B, F, N)``."""
        if not self.cfg.mixture:
            x, others = None, None
        if not self.cfg.siblings or x is None:
            others = None
        feats = self.features(s, x, others)  # (B, F, N, 8)
        B, _, N, _ = feats.shape
        h = torch.stack(
            [
                proj(feats[:, lo:hi].permute(0, 2, 1, 3).reshape(B, N, -1))
                for proj, (lo, hi) in zip(self.proj, self.ranges, strict=True)
            ],
            dim=1,
        )  # (B, K, N, D)
        for block in self.blocks:
            h = block(h)
        out = torch.cat(
            [
                head(h[:, k]).reshape(B, N, hi - lo, 3)
                for k, (head, (lo, hi)) in enumerate(zip(self.heads, self.ranges, strict=True))
            ],
            dim=2,
        ).permute(0, 2, 1, 3)  # (B, F, N, 3)
        gate = torch.tanh(out[..., 0])
        m = torch.complex(out[..., 1], out[..., 2])
        if self.cfg.mask_prior:
            m = m + self.prior_mask(s, x, others)
            mask = m / torch.clamp(m.abs(), min=1.0)  # |M| <= 1
        else:
            mag = m.abs()
            mask = m * (torch.tanh(mag) / (mag + EPS))
        base = s if x is None else x
        y = (1 - gate) * s + gate * mask * base
        return (y, gate) if return_gate else y


KIND = "stemprover-refiner"  # config.json "kind" of this model family
# The bundled latent diffusion model that --steps N > 0 and --adapters run after the refiner.
DIFFUSION_STAGE = "latent"


class RefinerModel(nn.Module):
    """The refiner as the enhance pipeline drives it (a
    :class:`~stemprover.models.base.SpectralModel`): ``enhance(spec, mix, others=...)``.

    Saved as ``config.json`` + ``model.safetensors``; never pickle.
    """

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.stft = cfg.stft
        self.sample_rate = cfg.sample_rate
        self.net = RefinerNet(cfg)

    @property
    def reads_mixture(self) -> bool:
        return self.config.mixture

    @property
    def reads_siblings(self) -> bool:
        """Whether the pipeline should stream the song's other stems (with the mixture)."""
        return self.config.mixture and self.config.siblings

    @torch.no_grad()
    def enhance(
        self,
        spec: torch.Tensor,
        mix: torch.Tensor | None = None,
        others: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Shape: spec, mix ``(B, F, N)`` complex; others ``(B, F, N)`` real -> ``(B, F, N)``.

        Args:
            mix: The mixture's spectrogram (``None``: the stem alone).
            others: The sum of the song's other stems' power spectrograms (song mode).
        """
        dtype = spec.dtype
        y = self.net(
            spec.to(torch.complex64),
            None if mix is None else mix.to(torch.complex64),
            None if others is None else others.float(),
        )
        return y.to(dtype)

    def save(self, folder: str | Path) -> Path:
        return save_module(self, folder, KIND, to_dict(self.config))

    @classmethod
    def load(cls, folder, device: str | torch.device = "cpu") -> RefinerModel:
        folder = Path(folder)
        meta = read_meta(folder, (KIND,))
        model = cls(from_dict(RefinerConfig, meta["config"]))
        load_into(model, load_state(folder / WEIGHTS_FILE, str(device)), folder / WEIGHTS_FILE)
        return model.eval()
