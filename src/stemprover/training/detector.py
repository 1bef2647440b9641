"""Training the artifact detector (``stemprover detector train``) through the training
engine: binary cross-entropy of the mean logit per artifact type against the manifest's
severities as soft targets (clean stems: all zero), so that scores rise with severity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from stemprover.analysis.learned import MIX_MAPS, RATE, features
from stemprover.audio.stft import ANALYSIS_STFT
from stemprover.config import DetectorConfig
from stemprover.errors import StemProverError
from stemprover.models.detector import DetectorNet
from stemprover.training.engine import EngineSettings, Objective, fit


def _examples(pairs: Path, split: str, artifacts: tuple[str, ...], producers=None):
    """Features of every clean and artifacted stem, each with and without the mixture.

    Returns ``[(features (9, MELS, N), target (A,))]``.
    """
    from stemprover.audio import io
    from stemprover.data.manifest import read_manifest

    out = []
    records = [
        r
        for r in read_manifest(pairs)
        if r["split"] == split and (not producers or r["producer"] in producers)
    ]
    if not records:
        raise StemProverError(f"no {split!r} pairs to train the detector on", pairs)
    for rec in tqdm(records, desc="features", leave=False):
        mix, info = io.read(Path(pairs) / rec["mixture"], "float64")
        for key, arts in (("clean", {}), ("artifacted", rec["artifacts"])):
            x, _ = io.read(Path(pairs) / rec[key], "float64")
            target = np.array([arts.get(a, 0.0) for a in artifacts], np.float32)
            with_mix = features(x, info.sample_rate, mix)
            alone = with_mix.copy()
            alone[MIX_MAPS] = 0  # exactly features(x, rate): no mixture level, flag 0
            out += [(alone, target), (with_mix, target)]
    return out


def train_detector(
    pairs: Path,
    out: Path,
    cfg: DetectorConfig | None = None,
    progress: bool = True,
    producers: tuple[str, ...] | None = None,
) -> Path:
    """Train the detector on a pairs folder's train split (optionally only pairs from some
    producers); returns ``out``."""
    from stemprover.vocabulary import ARTIFACTS

    cfg = cfg or DetectorConfig()
    torch.manual_seed(cfg.seed)
    examples = _examples(pairs, "train", ARTIFACTS, producers)
    frames = round(cfg.seconds * RATE / ANALYSIS_STFT.hop)
    net = DetectorNet(cfg, ARTIFACTS)
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.jsonl").unlink(missing_ok=True)
    net.train()

    def loss(rng: np.random.Generator, progress_: float) -> dict[str, torch.Tensor]:
        xs, ys = [], []
        for k in rng.integers(len(examples), size=cfg.batch_size):
            feats, target = examples[k]
            start = int(rng.integers(0, max(1, feats.shape[-1] - frames)))
            crop = feats[..., start : start + frames]
            xs.append(np.pad(crop, [(0, 0), (0, 0), (0, frames - crop.shape[-1])], mode="edge"))
            ys.append(target)
        logits = net(torch.from_numpy(np.stack(xs))).mean(dim=(-2, -1))  # (B, A)
        target = torch.from_numpy(np.stack(ys))
        return {"bce": nn.functional.binary_cross_entropy_with_logits(logits, target)}

    # No clipping: the detector trained without it when its recipe was measured.
    settings = EngineSettings(cfg.steps, cfg.lr, cfg.seed, schedule="cosine", clip=0, log_every=50)
    fit(
        Objective("detector", net, list(net.parameters()), loss),
        settings,
        out / "log.jsonl",
        progress=progress,
    )
    return net.eval().save(out)
