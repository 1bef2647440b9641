"""Training the umx separator (``stemprover separator train``) through the training engine.

The loss is Open-Unmix's: mean squared error of the stems' magnitudes, on random mono crops
whose stems are re-scaled before they are summed (Uhlich et al. 2017).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr
import torch
from torch import nn

from stemprover.audio import io
from stemprover.audio.stft import stft
from stemprover.config import UmxConfig
from stemprover.errors import StemProverError
from stemprover.models.separator import STEMS, UmxSeparator
from stemprover.training.engine import EngineSettings, Objective, fit


def _load_songs(pairs: Path, split: str, rate: int) -> list[np.ndarray]:
    """Each training song as ``(1 + S, C, T)``: mixture then the stems (silent when absent)."""
    from stemprover.data.manifest import read_manifest

    songs = {}
    for rec in read_manifest(pairs):
        if rec["split"] == split:
            songs.setdefault(rec["song"], Path(pairs) / rec["clean"])
    out = []
    for clean_path in songs.values():
        folder = clean_path.parent
        mixture, info = io.read(folder / "mixture.wav", "float32")
        stems = []
        for stem in STEMS:
            path = folder / f"{stem}.wav"
            stems.append(io.read(path, "float32")[0] if path.exists() else np.zeros_like(mixture))
        audio = np.stack([mixture, *stems])  # (1+S, C, T)
        if info.sample_rate != rate:
            audio = np.stack([soxr.resample(a.T, info.sample_rate, rate).T for a in audio])
        out.append(audio.astype(np.float32))
    if not out:
        raise StemProverError(f"no {split!r} songs to train the separator on", pairs)
    return out


def _batch(songs: list[np.ndarray], cfg: UmxConfig, rng: np.random.Generator) -> torch.Tensor:
    """Random mono crops with each stem's gain drawn anew (Uhlich et al. 2017 augmentation):
    the mixture is the sum of the scaled stems. Shape: ``(B, 1+S, T)``."""
    length = round(cfg.seconds * cfg.sample_rate)
    crops = []
    for _ in range(cfg.batch_size):
        song = songs[int(rng.integers(len(songs)))]
        ch = int(rng.integers(song.shape[1]))
        start = int(rng.integers(0, max(1, song.shape[-1] - length)))
        stems = song[1:, ch, start : start + length] * rng.uniform(0.5, 1.5, (len(STEMS), 1))
        stems = np.pad(stems, [(0, 0), (0, length - stems.shape[-1])])
        crops.append(np.concatenate([stems.sum(0, keepdims=True), stems]))
    return torch.from_numpy(np.stack(crops).astype(np.float32))


def train_separator(
    pairs: Path, out: Path, cfg: UmxConfig | None = None, progress: bool = True
) -> Path:
    """Train the separator on the songs of a pairs folder's train split; returns ``out``.

    The loss is Open-Unmix's: mean squared error of the stems' magnitudes. Validation prints
    the mean SI-SDR of the separated stems on the valid split's songs.
    """
    cfg = cfg or UmxConfig()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    songs = _load_songs(pairs, "train", cfg.sample_rate)
    model = UmxSeparator(cfg)
    with torch.no_grad():  # standardise inputs with the data's statistics, as Open-Unmix does
        mag = stft(_batch(songs, cfg, rng)[:, 0], cfg.stft).abs()[:, : cfg.max_bin]
        feats = torch.log1p(mag * 100).transpose(1, 2).reshape(-1, cfg.max_bin)
        model.input_mean.copy_(feats.mean(0))
        model.input_scale.copy_(1 / feats.std(0).clamp_min(1e-3))
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.jsonl").unlink(missing_ok=True)
    model.train()

    def loss(rng: np.random.Generator, progress_: float) -> dict[str, torch.Tensor]:
        batch = _batch(songs, cfg, rng)
        specs = stft(batch.reshape(-1, batch.shape[-1]), cfg.stft).abs()
        specs = specs.reshape(batch.shape[0], 1 + len(STEMS), *specs.shape[-2:])
        return {"mse": nn.functional.mse_loss(model(specs[:, 0]), specs[:, 1:])}

    settings = EngineSettings(
        cfg.steps, cfg.lr, cfg.seed, optimizer="adam", schedule="cosine", log_every=50
    )
    objective = Objective("separator", model, list(model.parameters()), loss)
    fit(objective, settings, out / "log.jsonl", progress=progress)
    model.eval()
    model.save(out)
    return out


def validate_separator(model: UmxSeparator, pairs: Path, seconds: float = 8.0) -> dict:
    """Mean SI-SDR per stem of the separator on the valid split's songs (silent stems skipped)."""
    from stemprover.evaluation.metrics import si_sdr

    scores = {s: [] for s in STEMS}
    for song in _load_songs(pairs, "valid", model.cfg.sample_rate):
        n = round(seconds * model.cfg.sample_rate)
        est = model.separate(song[0, :, :n], model.cfg.sample_rate)
        for k, stem in enumerate(STEMS):
            value = si_sdr(song[1 + k, :, :n].astype(np.float64), est[stem])
            if np.isfinite(value):
                scores[stem].append(value)
    return {s: round(float(np.mean(v)), 2) for s, v in scores.items() if v}
