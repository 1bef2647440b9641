"""A small Open-Unmix-style separator: the ``umx`` producer of genuine neural-separator artifacts.

After Stöter et al. 2019 ("Open-Unmix - A Reference Implementation for Music Source
Separation"): per frame, the mixture magnitude below a bandwidth limit is standardised,
compressed by a linear layer, passed through a bidirectional LSTM with a skip connection and
expanded to one non-negative mask per stem; each stem is the masked mixture magnitude with the
mixture's phase. One network predicts all four stems (Open-Unmix trains one per target), and
it is small and briefly trained on purpose: its bleed, lost highs above the bandwidth and
phasiness are the artifacts StemProver exists to remove.

Saved as ``config.json`` + ``model.safetensors`` (never pickle), trained by
``stemprover separator train``; a small one ships in ``stemprover/weights/separators/umx``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soxr
import torch
from torch import nn
from tqdm import tqdm

from stemprover.audio import io
from stemprover.audio.stft import istft, stft
from stemprover.config import UmxConfig
from stemprover.errors import StemProverError
from stemprover.vocabulary import STEM_TYPES

KIND = "stemprover-umx-separator"
STEMS = STEM_TYPES
BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "separators" / "umx"


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
        self.lstm = nn.LSTM(h, h // 2, num_layers=cfg.layers, bidirectional=True, batch_first=True)
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
        x = torch.tanh(self.bn1(self.fc1(x).transpose(1, 2)).transpose(1, 2))  # (B, N, H)
        y, _ = self.lstm(x)
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
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    log = out / "log.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    model.train()
    for step in tqdm(range(1, cfg.steps + 1), desc="separator", disable=not progress):
        batch = _batch(songs, cfg, rng)
        specs = stft(batch.reshape(-1, batch.shape[-1]), cfg.stft).abs()
        specs = specs.reshape(batch.shape[0], 1 + len(STEMS), *specs.shape[-2:])
        loss = nn.functional.mse_loss(model(specs[:, 0]), specs[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step == 1 or step % 50 == 0 or step == cfg.steps:
            with open(log, "a") as f:
                f.write(json.dumps({"step": step, "loss": loss.item(), "time": time.time()}) + "\n")
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


def measured_artifacts(
    clean: np.ndarray, estimate: np.ndarray, mixture: np.ndarray, rate: int, cfg: UmxConfig
) -> dict[str, float]:
    """Severities of a separated stem, measured against the known stems (none is set).

    - ``bleed``: SIR of the estimate projected on clean and on the rest of the mixture,
      25 dB or more -> 0, 0 dB -> 1.
    - ``hf_loss``: share of the clean stem's energy above the bandwidth that is missing.
    - ``spectral_holes``: share of the clean stem's strong cells (within 30 dB of its peak)
      that the estimate leaves more than 10 dB too weak.
    - ``phasiness``: 0.3 + 0.4 × bleed: the mixture's phase is reused, as for ``mask``.

    Shape: each ``(C, T)``.
    """
    from stemprover.audio.stft import stft_np

    others = mixture - clean
    est, c, o = (np.asarray(a, np.float64).ravel() for a in (estimate, clean, others))
    gram = np.array([[c @ c, c @ o], [o @ c, o @ o]]) + 1e-12 * np.eye(2)
    a, b = np.linalg.solve(gram, [c @ est, o @ est])
    sir = 10 * np.log10((a * a * (c @ c) + 1e-12) / (b * b * (o @ o) + 1e-12))
    bleed = float(np.clip((25 - sir) / 25, 0, 1))
    S, E = stft_np(clean), stft_np(estimate)  # (C, F, N)
    freqs = np.fft.rfftfreq(2 * (S.shape[-2] - 1), 1 / rate)
    high = freqs > cfg.bandwidth_hz
    clean_hf = float(np.sum(np.abs(S[:, high]) ** 2))
    total = float(np.sum(np.abs(S) ** 2)) + 1e-12
    hf = 0.0
    if clean_hf > 1e-4 * total:
        hf = float(np.clip(1 - np.sum(np.abs(E[:, high]) ** 2) / clean_hf, 0, 1))
    power_s, power_e = np.abs(S[:, ~high]) ** 2, np.abs(E[:, ~high]) ** 2
    strong = power_s > power_s.max() * 1e-3
    holes = float(np.mean(power_e[strong] < 0.1 * power_s[strong])) if strong.any() else 0.0
    out = {"bleed": bleed, "hf_loss": hf, "spectral_holes": holes, "phasiness": 0.3 + 0.4 * bleed}
    return {k: round(v, 4) for k, v in out.items() if v > 0}
