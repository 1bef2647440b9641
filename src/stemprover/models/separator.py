"""A small Open-Unmix-style separator: the ``umx`` producer of genuine neural-separator artifacts.

After Stöter et al. 2019 ("Open-Unmix - A Reference Implementation for Music Source
Separation"): per frame, the mixture magnitude below a bandwidth limit is standardised,
compressed by a linear layer, passed through a bidirectional LSTM with a skip connection and
expanded to one non-negative mask per stem; each stem is the masked mixture magnitude with the
mixture's phase. One network predicts all four stems (Open-Unmix trains one per target), and
it is small and briefly trained on purpose: its bleed, lost highs above the bandwidth and
phasiness are the artifacts StemProver exists to remove. ``core="tcn"`` swaps the BLSTM for
dilated convolutions along time: a second architecture with its own fingerprint;
``core="bandsplit"`` a third, which reads the spectrum band by band (BSRNN-style: per-band
projections, GRUs along time and across bands) instead of one projection of all bins.

Saved as ``config.json`` + ``model.safetensors`` (never pickle), trained by
``stemprover separator train``; a small one ships in ``stemprover/weights/separators/umx``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import soxr
import torch
from torch import nn

from stemprover.audio.stft import istft, stft
from stemprover.config import UmxConfig
from stemprover.vocabulary import STEM_TYPES

KIND = "stemprover-umx-separator"
STEMS = STEM_TYPES
BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "separators" / "umx"


class _TemporalConv(nn.Module):
    """Residual dilated convolutions along time (dilations 1, 2, 4, 8, ...; non-causal), the
    ``tcn`` core. Shape: ``(B, N, H)`` -> ``(B, N, H)``."""

    def __init__(self, width: int, blocks: int, kernel: int = 3) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(width, width, kernel, padding=2**i * (kernel - 1) // 2, dilation=2**i),
                nn.BatchNorm1d(width),
                nn.PReLU(),
                nn.Conv1d(width, width, 1),
            )
            for i in range(blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # (B, H, N)
        for block in self.blocks:
            h = h + block(h)
        return h.transpose(1, 2)


class _BandSplit(nn.Module):
    """The ``bandsplit`` core (after BSRNN, Luo & Yu 2023): the modelled bins cut into bands
    of the project's band table (narrow low, wide high), each band projected on its own, then
    a bidirectional GRU along time (shared by the bands) and one across the bands of each
    frame, and back to one vector per frame. Shape: log-magnitudes ``(B, N, F')`` ->
    ``(B, N, H)``."""

    def __init__(self, n_fft: int, rate: int, used: int, width: int, d: int = 32) -> None:
        super().__init__()
        from stemprover.audio.bands import split_bands

        self.ranges = [(lo, min(hi, used)) for lo, hi in split_bands(n_fft, rate) if lo < used]
        self.proj = nn.ModuleList(nn.Linear(hi - lo, d) for lo, hi in self.ranges)
        self.norm = nn.LayerNorm(d)
        self.time = nn.GRU(d, d // 2, batch_first=True, bidirectional=True)
        self.across = nn.GRU(d, d // 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(d * len(self.ranges), width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h = torch.stack(
            [p(x[..., lo:hi]) for p, (lo, hi) in zip(self.proj, self.ranges, strict=True)], 2
        )
        k, d = h.shape[2], h.shape[3]  # (B, N, K, d)
        t = self.norm(h).transpose(1, 2).reshape(b * k, n, d)
        h = h + self.time(t)[0].reshape(b, k, n, d).transpose(1, 2)
        f = self.norm(h).reshape(b * n, k, d)
        h = h + self.across(f)[0].reshape(b, n, k, d)
        return self.out(h.reshape(b, n, k * d))


class UmxSeparator(nn.Module):
    """Mixture magnitude -> per-stem magnitudes.

    Shape:
        ``(B, F, N)`` real magnitude -> ``(B, S, F, N)``, S = len(STEMS).
    """

    def __init__(self, cfg: UmxConfig) -> None:
        super().__init__()
        self.cfg = cfg
        bins, used, h = cfg.n_fft // 2 + 1, cfg.max_bin, cfg.hidden
        self.input_mean = nn.Parameter(torch.zeros(used))
        self.input_scale = nn.Parameter(torch.ones(used))
        self.fc1 = nn.Linear(used, h, bias=False)
        self.bn1 = nn.BatchNorm1d(h)
        if cfg.core == "blstm":
            self.lstm = nn.LSTM(
                h, h // 2, num_layers=cfg.layers, bidirectional=True, batch_first=True
            )
        elif cfg.core == "tcn":
            self.tcn = _TemporalConv(h, blocks=4 * cfg.layers)
        elif cfg.core == "bandsplit":
            self.bandsplit = _BandSplit(cfg.n_fft, cfg.sample_rate, used, h)
        else:
            raise ValueError(f"unknown separator core {cfg.core!r} (blstm, tcn, bandsplit)")
        self.fc2 = nn.Linear(2 * h, h, bias=False)
        self.bn2 = nn.BatchNorm1d(h)
        self.fc3 = nn.Linear(h, len(STEMS) * used, bias=False)
        self.bn3 = nn.BatchNorm1d(len(STEMS) * used)
        self.output_scale = nn.Parameter(torch.ones(len(STEMS), used))
        self.output_mean = nn.Parameter(torch.ones(len(STEMS), used))
        self.bins = bins

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        b, _, n = mag.shape
        used = self.cfg.max_bin
        x = torch.log1p(mag[:, :used].transpose(1, 2) * 100)  # (B, N, F')
        x = (x - self.input_mean) * self.input_scale
        bands = self.bandsplit(x) if self.cfg.core == "bandsplit" else None  # from the bins
        x = torch.tanh(self.bn1(self.fc1(x).transpose(1, 2)).transpose(1, 2))  # (B, N, H)
        if bands is not None:
            y = bands
        else:
            y = self.lstm(x)[0] if self.cfg.core == "blstm" else self.tcn(x)  # (B, N, H)
        x = torch.relu(self.bn2(self.fc2(torch.cat([x, y], -1)).transpose(1, 2)).transpose(1, 2))
        x = self.bn3(self.fc3(x).transpose(1, 2))  # (B, S*F', N)
        x = x.reshape(b, len(STEMS), used, n)
        mask = torch.relu(x * self.output_scale[..., None] + self.output_mean[..., None])
        mask = nn.functional.pad(mask, (0, 0, 0, self.bins - used))  # zero above the bandwidth
        return mask * mag[:, None]  # (B, S, F, N)

    @torch.no_grad()
    def separate(self, mixture: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        """Separate a mixture into the four stems (mixture phase, masked magnitudes).

        Shape:
            mixture ``(C, T)`` -> ``{stem: (C, T)}`` float64 at ``rate``.
        """
        self.eval()
        cfg = self.cfg
        x = np.asarray(mixture, np.float64)
        if rate != cfg.sample_rate:
            x = soxr.resample(x.T, rate, cfg.sample_rate, quality="VHQ").T
        spec = stft(torch.from_numpy(np.ascontiguousarray(x)).float(), cfg.stft)  # (C, F, N)
        mags = self(spec.abs())  # (C, S, F, N)
        phase = torch.exp(1j * spec.angle())
        out = {}
        for k, stem in enumerate(STEMS):
            wave = istft(mags[:, k] * phase, cfg.stft, x.shape[-1]).double().numpy()
            if rate != cfg.sample_rate:
                wave = soxr.resample(wave.T, cfg.sample_rate, rate, quality="VHQ").T
                wave = _fit(wave, mixture.shape[-1])
            out[stem] = wave
        return out

    def save(self, folder: str | Path) -> Path:
        from stemprover.models.serialization import save_module

        return save_module(self, folder, KIND, asdict(self.cfg))

    @classmethod
    def load(cls, folder: str | Path | None = None) -> UmxSeparator:
        """Load a trained separator (``None``: the bundled one); refuses pickles."""
        from stemprover.models.serialization import load_saved

        folder = Path(folder) if folder is not None else BUNDLED
        hint = " (train one: stemprover separator train)" if folder == BUNDLED else ""
        meta, state = load_saved(folder, KIND, f"umx separator{hint}")
        model = cls(UmxConfig(**meta["config"]))
        model.load_state_dict(state)
        return model.eval()


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    return np.pad(x[..., :length], [(0, 0)] * (x.ndim - 1) + [(0, max(0, length - x.shape[-1]))])
