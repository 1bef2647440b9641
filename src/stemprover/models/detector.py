"""The artifact detector network: a small dilated CNN, one logit map per artifact type over
(mel band, frame). Its input features are :func:`stemprover.analysis.learned.features`;
``analyze`` turns its maps into severities. Trained by :mod:`stemprover.training.detector`.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stemprover.config import DetectorConfig

KIND = "stemprover-artifact-detector"
BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "detector"


class DetectorNet(nn.Module):
    """Shape: ``(B, cfg.inputs, MELS, N)`` -> logits ``(B, A, MELS, N)``, A = artifact types."""

    def __init__(self, cfg: DetectorConfig, artifacts: tuple[str, ...]) -> None:
        super().__init__()
        self.cfg, self.artifacts = cfg, artifacts
        c = cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(cfg.inputs, c, 3, padding=1), nn.GELU()]
        for dil in ((1, 2), (2, 4), (4, 8), (8, 16)):  # receptive field ~31 bands x ~61 frames
            norm = nn.BatchNorm2d(c) if cfg.norm == "batch" else nn.GroupNorm(4, c)
            layers += [nn.Conv2d(c, c, 3, padding=dil, dilation=dil), norm, nn.GELU()]
        layers.append(nn.Conv2d(c, len(artifacts), 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def maps(self, feats: np.ndarray) -> dict[str, np.ndarray]:
        """Logit map per artifact type. Shape: ``(9, MELS, N)`` -> ``{type: (MELS, N)}``."""
        self.eval()
        logits = self(torch.from_numpy(feats[: self.cfg.inputs])[None])[0].numpy()
        return dict(zip(self.artifacts, logits, strict=True))

    def save(self, folder: Path) -> Path:
        from stemprover.models.serialization import save_module

        return save_module(self, folder, KIND, asdict(self.cfg), artifacts=list(self.artifacts))

    @classmethod
    def load(cls, folder: Path) -> DetectorNet:
        from stemprover.models.serialization import load_saved

        meta, state = load_saved(folder, KIND, "artifact detector")
        net = cls(DetectorConfig(**meta["config"]), tuple(meta["artifacts"]))
        net.load_state_dict(state)
        return net.eval()


@cache
def bundled_detector() -> DetectorNet | None:
    """The detector shipped in the package, or ``None`` when there is none."""
    return DetectorNet.load(BUNDLED) if (BUNDLED / "config.json").exists() else None
