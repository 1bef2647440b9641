"""A learned artifact detector: a small dilated CNN over gain-normalised spectral features.

The hand-written detectors (``detectors.py``) rank only ``hf_loss`` reliably (see
bench/results/analyze_auroc/analyze_auroc.md), so ``analyze`` uses this network when one is bundled or given.
It reads a stem (and, when given, its mixture) as feature maps on 64 mel bands at 44.1 kHz:

0. the stem's mid level in dB relative to the file's own 99th percentile (gain-invariant),
1. the side/mid level ratio in dB (phasiness and stereo bleed show here; -80 dB in mono),
2. the inter-channel (stereo) or frame-to-frame (mono) phase wander of ``detectors.phasiness``,
3. the mixture's level relative to the same reference (0 when no mixture is given),
4. a flag: 1 when the mixture is given,
5. temporal roughness: the size of each linear bin's second difference over time in dB,
   averaged into the mel band (noise-like parts fluctuate frame to frame; a time-smeared
   magnitude does not, so smearing lowers it and musical noise raises it),
6. in-band spread: the standard deviation of the linear bins' dB levels within each mel band
   (a hole of a few bins inside a wide band vanishes from the band's mean, not its spread),
7. 8. roughness as in 5 at lags of 4 and 12 frames: smoothing over k frames removes
   fluctuations at lags below k, so how far up the lags roughness is lost tells how much.

Maps 5-8 are read at the STFT's full resolution, which the mel-pooled level map loses.
Older detectors read only the first 5 or 7 maps (``DetectorConfig.inputs``).

Per artifact type it outputs a logit map over (mel band, frame); the file's severity is the
sigmoid of the map's mean, a band's or a second's the sigmoid of the mean over that region.
Trained on pairs (``stemprover detector train``) with the manifest's severities as soft
targets of a binary cross-entropy (clean stems: all zero), so scores rise with severity.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from functools import cache
from pathlib import Path

import numpy as np
import soxr
import torch
from torch import nn
from tqdm import tqdm

from stemprover.audio.mel import mel_filterbank
from stemprover.audio.stft import ANALYSIS_STFT, stft_np
from stemprover.config import DetectorConfig
from stemprover.errors import StemProverError

KIND = "stemprover-artifact-detector"
RATE = 44100
MELS = 64
FLOOR_DB = -80.0
BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "detector"
EPS = 1e-12


MIX_MAPS = slice(3, 5)  # the mixture's level and flag: zero when no mixture is given


@cache
def _mel_bank() -> np.ndarray:
    return mel_filterbank(RATE, ANALYSIS_STFT.n_fft, MELS, fmin=20.0)


@cache
def _mel_average() -> np.ndarray:
    """The mel bank with rows normalised to sum to 1: each band's mean over its bins."""
    return _mel_bank() / (_mel_bank().sum(axis=1, keepdims=True) + EPS)


def _mel_power(spec: np.ndarray) -> np.ndarray:
    """Shape: ``(F, N)`` complex -> ``(MELS, N)`` power."""
    return _mel_bank() @ (np.abs(spec) ** 2)


def features(stem: np.ndarray, rate: int, mix: np.ndarray | None = None) -> np.ndarray:
    """The network's input maps. Shape: stem, mix ``(C, T)`` -> ``(9, MELS, N)`` float32."""
    from stemprover.analysis.detectors import Features, phasiness

    def at_rate(x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, np.float64))
        return x if rate == RATE else soxr.resample(x.T, rate, RATE).T

    stem = at_rate(stem)
    spec = stft_np(stem, ANALYSIS_STFT)  # (C, F, N)
    lin = np.abs(spec.mean(axis=0)) ** 2  # (F, N) mid power per bin
    mid = _mel_bank() @ lin
    floor = 1e-10 * mid.max() + 1e-30  # -100 dB re the file's peak: no absolute constant

    def db(power: np.ndarray) -> np.ndarray:
        return 10 * np.log10(power + floor)

    mid_db = db(mid)
    ref = np.percentile(mid_db, 99)
    level = np.clip(mid_db - ref, FLOOR_DB, 0) / 20
    if spec.shape[0] >= 2:
        side_db = db(_mel_power((spec[0] - spec[1]) / 2))
        side = np.clip(side_db - mid_db, FLOOR_DB, 20) / 20
    else:
        side = np.full_like(level, FLOOR_DB / 20)
    f = Features.of(stem, RATE, spec=spec)
    bank = _mel_average()
    wander = bank @ phasiness(f)
    # Bins more than 100 dB below the file's loudest one are held there (gain-invariant).
    lin_db = np.maximum(db(lin), 10 * np.log10(lin.max() + EPS) + FLOOR_DB - 20)

    def roughness(lag: int) -> np.ndarray:
        if lin_db.shape[-1] <= 2 * lag:  # too short to see this lag: no evidence either way
            return np.zeros_like(level)
        second = np.abs(lin_db[:, lag:-lag] - (lin_db[:, : -2 * lag] + lin_db[:, 2 * lag :]) / 2)
        return bank @ np.pad(second, [(0, 0), (lag, lag)], mode="edge") / 20

    mean = bank @ lin_db
    spread = np.sqrt(np.maximum(bank @ lin_db**2 - mean**2, 0)) / 20
    if mix is not None:
        mix_db = db(_mel_power(stft_np(at_rate(mix), ANALYSIS_STFT).mean(axis=0)))
        mix_level, flag = np.clip(mix_db - ref, FLOOR_DB, 20) / 20, np.ones_like(level)
    else:
        mix_level, flag = np.zeros_like(level), np.zeros_like(level)
    maps = [level, side, wander, mix_level, flag, roughness(1), spread, roughness(4), roughness(12)]
    return np.stack(maps).astype(np.float32)


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
        config = {"inputs": 5, "norm": "group", **meta["config"]}  # saved before both options
        net = cls(DetectorConfig(**config), tuple(meta["artifacts"]))
        net.load_state_dict(state)
        return net.eval()


@cache
def bundled_detector() -> DetectorNet | None:
    """The detector shipped in the package, or ``None`` when there is none."""
    return DetectorNet.load(BUNDLED) if (BUNDLED / "config.json").exists() else None


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
    cfg = cfg or DetectorConfig()
    from stemprover.data.artifacts import ARTIFACTS

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    examples = _examples(pairs, "train", ARTIFACTS, producers)
    frames = round(cfg.seconds * RATE / ANALYSIS_STFT.hop)
    net = DetectorNet(cfg, ARTIFACTS)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.jsonl"
    log.unlink(missing_ok=True)
    net.train()
    for step in tqdm(range(1, cfg.steps + 1), desc="detector", disable=not progress):
        xs, ys = [], []
        for k in rng.integers(len(examples), size=cfg.batch_size):
            feats, target = examples[k]
            start = int(rng.integers(0, max(1, feats.shape[-1] - frames)))
            crop = feats[..., start : start + frames]
            xs.append(np.pad(crop, [(0, 0), (0, 0), (0, frames - crop.shape[-1])], mode="edge"))
            ys.append(target)
        logits = net(torch.from_numpy(np.stack(xs))).mean(dim=(-2, -1))  # (B, A)
        loss = nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(np.stack(ys))
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step == 1 or step % 50 == 0 or step == cfg.steps:
            with open(log, "a") as f:
                f.write(json.dumps({"step": step, "loss": loss.item(), "time": time.time()}) + "\n")
    return net.eval().save(out)
