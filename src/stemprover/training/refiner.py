"""Training the refiner's predictive stage (``stemprover refiner train``) through the engine.

Each batch is in one of three modes, as the product meets stems: stem alone
(``mixture_dropout``), stem and mixture, or stem, mixture and the song's other separated stems
(song mode). Identity crops (the clean stem as input) teach it to leave good stems alone.

The loss is the crop's negative SNR (level counts; soft-capped), plus ``harm_weight`` times
how far the crop's SNR falls below its input's (the no-harm term), plus the multi-resolution
complex STFT loss and the band-weighted phase-coherence loss (and, with ``train.mel``, the
floored log-mel distance; with ``train.level``, the output level's error). The no-harm term
and the identity crops start after ``warmup`` of the steps.

The run folder holds ``checkpoints/`` (resumable), ``log.jsonl``, ``model/``: the EMA
weights that scored best on the validation crops so far (``best.json`` says which step), and
``init.json``: the weights the run started from (``--init``), so that a resume from other
weights is refused instead of silently continuing another chain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import istft, stft
from stemprover.config import RefinerConfig, RefinerTrainConfig
from stemprover.errors import StemProverError
from stemprover.evaluation.metrics import HARM_DB
from stemprover.models.base import weights_sha256
from stemprover.models.refiner import RefinerModel
from stemprover.training.data import PairCrops
from stemprover.training.engine import EngineSettings, Objective, fit
from stemprover.training.losses import (
    level_db_loss,
    mel_db_loss,
    mrstft_loss,
    phase_coherence_loss,
)

MODES = ("stem", "mixture", "song")
CHANNELS = 2  # crops are stereo (a mono pair is repeated): the classical estimate is spatial
INIT_RECORD = "init.json"  # a run folder's record of its starting weights


def snr_db(est: torch.Tensor, ref: torch.Tensor, max_db: float | None = None) -> torch.Tensor:
    """Per-item SNR in dB, soft-capped at ``max_db``. Shape: ``(B, T)`` each -> ``(B,)``."""
    signal = (ref**2).sum(-1)
    floor = 0.0 if max_db is None else signal * 10 ** (-max_db / 10)
    noise = ((ref - est) ** 2).sum(-1) + floor
    return 10 * torch.log10(signal.clamp_min(1e-10) / noise.clamp_min(1e-10))


def audible(ref: torch.Tensor, silent_db: float = -60.0) -> torch.Tensor:
    """Items whose reference is louder than ``silent_db`` dBFS RMS. ``(B, T)`` -> ``(B,)``."""
    return (ref**2).mean(-1) > 10 ** (silent_db / 10)


def run_model(model: RefinerModel, art, mix, sibs, mode: str):
    """The model on waveforms in ``mode``, channels together (the classical estimate reads
    them all). Shape: ``(B, C, T)``, sibs ``(B, K, C, T)`` -> ``(output (B·C, T), output
    spectrogram (B·C, F, N), gate (B·C, F, N))``, channels flattened into items."""
    cfg = model.config.stft
    s = stft(art, cfg)
    x = stft(mix, cfg) if mode != "stem" else None
    siblings = stft(sibs, cfg) if mode == "song" else None
    y, gate = model.run(s, x, siblings, return_gate=True)
    y, gate = y.flatten(0, 1), gate.flatten(0, 1)
    return istft(y, cfg, art.shape[-1]), y, gate


class _Loss:
    def __init__(self, model: RefinerModel, data: PairCrops, t: RefinerTrainConfig):
        self.model, self.data, self.cfg, self.t = model, data, model.config, t

    def __call__(self, rng: np.random.Generator, progress: float) -> dict[str, torch.Tensor]:
        t = self.t
        restraint = progress >= t.warmup  # the no-harm term and identity crops
        identity = t.identity if restraint else 0.0
        clean, art, mix, sibs = self.data.song_batch(
            t.batch_size, rng, progress, identity, channels=CHANNELS
        )
        r = rng.random()
        mode = "stem" if r < t.mixture_dropout else "song"
        if mode == "song" and rng.random() < t.sibling_dropout:
            mode = "mixture"
        if mode == "song" and t.song_filter and rng.random() < t.song_filter:
            return self._through_song_filter(rng, restraint)
        with self._precision():
            y, spec, _ = run_model(self.model, art, mix, sibs, mode)
        return self._parts(y, spec, clean.flatten(0, 1), art.flatten(0, 1), restraint)

    def _precision(self) -> torch.autocast:
        """bfloat16 matrix products with ``train.bf16`` (the network's output is float32)."""
        device = next(self.model.parameters()).device.type
        return torch.autocast(device, dtype=torch.bfloat16, enabled=self.t.bf16)

    def _through_song_filter(self, rng: np.random.Generator, restraint: bool) -> dict:
        """Song crops: every stem refined with the others, then the song filter (as
        ``RefinerModel.enhance_song`` with ``level``), the loss on every stem after it."""
        cfg = self.cfg.stft
        outs, specs, cleans, arts = [], [], [], []
        for _ in range(max(1, self.t.batch_size // 4)):
            clean, art, mix = self.data.song_crops(rng, CHANNELS)  # (J, C, T), (C, T)
            with self._precision():
                y = self.model.refine_song(stft(art, cfg), stft(mix, cfg), "level")  # (J, C, F, N)
            specs.append(y.flatten(0, 1))
            outs.append(istft(specs[-1], cfg, art.shape[-1]))
            cleans.append(clean.flatten(0, 1))
            arts.append(art.flatten(0, 1))
        return self._parts(*(torch.cat(z) for z in (outs, specs, cleans, arts)), restraint)

    def _parts(self, y, spec, clean, art, restraint: bool) -> dict[str, torch.Tensor]:
        """The loss terms. Shape: y, clean, art ``(items, T)``, spec ``(items, F, N)``."""
        t = self.t
        keep = audible(clean)
        if not keep.any():
            return {"snr": y.sum() * 0}
        y_k, c_k, a_k = y[keep], clean[keep], art[keep]
        out = snr_db(y_k, c_k, t.snr_max_db)
        before = snr_db(a_k, c_k, t.snr_max_db).detach()
        parts = {
            "snr": -out.mean() / 10,
            "harm": t.harm_weight * restraint * torch.relu(before - out).mean() / 10,
        }
        if t.level:
            parts["level"] = t.level * level_db_loss(y_k, c_k)
        if t.mrstft:
            parts["mrstft"] = t.mrstft * mrstft_loss(y_k, c_k, (512, 2048))
        if t.phase or t.mel:
            ref = stft(clean, self.cfg.stft)[keep]
        if t.phase:
            parts["phase"] = t.phase * phase_coherence_loss(
                spec[keep], ref, self.cfg.stft, self.cfg.sample_rate
            )
        if t.mel:
            parts["mel"] = t.mel * mel_db_loss(
                spec[keep], ref, self.cfg.stft.n_fft, self.cfg.sample_rate
            )
        return parts


def _valid_set(data: PairCrops, t: RefinerTrainConfig) -> list[tuple]:
    """Fixed validation batches (the same crops at every validation), 4 stereo crops each:
    ``valid_crops`` channels in all."""
    rng = np.random.default_rng([t.seed, 99])
    n = max(1, t.valid_crops // (4 * CHANNELS))
    return [data.song_batch(4, rng, channels=CHANNELS) for _ in range(n)]


@torch.no_grad()
def validate(model: RefinerModel, batches, modes: Sequence[str] = MODES) -> dict:
    """Mean SNR change per mode (per channel of each crop), its share of harmed crops and
    the mean gate."""
    model.eval()
    out = {}
    for mode in modes:
        gains, gates = [], []
        for clean, art, mix, sibs in batches:
            y, _, gate = run_model(model, art, mix, sibs, mode)
            clean, a = clean.flatten(0, 1), art.flatten(0, 1)
            keep = audible(clean)
            gains.append((snr_db(y, clean) - snr_db(a, clean))[keep])
            gates.append(gate.abs().mean())
        g = torch.cat(gains)
        out[f"valid_{mode}_db"] = round(float(g.mean()), 4)
        out[f"valid_{mode}_harmed"] = round(float((g < -HARM_DB).float().mean()), 4)
        out[f"valid_{mode}_gate"] = round(float(torch.stack(gates).mean()), 4)
    model.train()
    return out


def _init_record(init: Path | None) -> dict:
    """What a run started from: ``init``'s folder and a hash of its weights (``None``: from
    nothing)."""
    if init is None:
        return {"init": None, "sha256": None}
    return {"init": str(Path(init).resolve()), "sha256": weights_sha256(init)}


def check_init(out: Path, init: Path | None) -> None:
    """Record in ``out`` what the run starts from, or, when it already holds checkpoints,
    refuse to resume it from anything else: other ``--init`` weights (another folder, or the
    same folder retrained since), or ``--init`` given or left out where the run did the other.
    A run folder from before the record (checkpoints, no ``init.json``) is resumed unchecked."""
    record, now = out / INIT_RECORD, _init_record(init)
    if not (out / "checkpoints").exists():  # nothing trained yet: (re)start from ``init``
        record.write_text(json.dumps(now, indent=1) + "\n")
        return
    if not record.exists():
        return
    was = json.loads(record.read_text())
    if (was["init"] is None, was["sha256"]) != (now["init"] is None, now["sha256"]):
        said = {None: "nothing (no --init)"}
        raise StemProverError(
            f"this run started from {said.get(was['init'], was['init'])} and would resume "
            f"from {said.get(now['init'], now['init'])}"
            + (", its weights changed since" if was["init"] == now["init"] else "")
            + "; give the run's own --init, or a new --out to start over",
            out,
        )


def train_refiner(
    pairs: Sequence[Path],
    out: Path,
    cfg: RefinerConfig,
    t: RefinerTrainConfig,
    progress: bool = True,
    init: Path | None = None,
) -> Path:
    """Train (or resume) a refiner run in ``out``; returns its best model folder.

    Raises:
        StemProverError: ``out`` holds a run that started from other weights than ``init``.
    """
    out.mkdir(parents=True, exist_ok=True)
    check_init(out, init)
    torch.manual_seed(t.seed)
    model = RefinerModel(cfg)
    if init is not None:
        model.start_from(RefinerModel.load(init), init)
    model.train()
    ema = copy.deepcopy(model)
    train = PairCrops(pairs, "train", cfg.sample_rate, t.seconds, mixture=True, siblings=True)
    try:
        valid = PairCrops(pairs, "valid", cfg.sample_rate, 4.0, mixture=True, siblings=True)
    except StemProverError:  # too few songs for a valid split: validate on training songs
        print("refiner: no 'valid' pairs; validating on training pairs (not held out)")
        valid = PairCrops(pairs, "train", cfg.sample_rate, 4.0, mixture=True, siblings=True)
    batches = _valid_set(valid, t)
    best_file = out / "best.json"
    best = json.loads(best_file.read_text()) if best_file.exists() else {"score": -1e9}

    def on_validate() -> dict:
        scores = validate(ema, batches)
        score = float(np.mean([scores[f"valid_{m}_db"] for m in MODES]))
        scores["valid_score"] = round(score, 4)
        if score > best["score"]:
            best.update(score=score, scores=scores)
            ema.save(out / "model")
            best_file.write_text(json.dumps(best, indent=1) + "\n")
        return scores

    settings = EngineSettings(
        steps=t.steps,
        lr=t.lr,
        seed=t.seed,
        schedule="cosine",
        clip=1.0,
        ema_decay=t.ema_decay,
        checkpoint_every=t.checkpoint_every,
        validate_every=t.validate_every,
        log_every=10,
        max_minutes=t.max_minutes,
        stop_at=t.stop_at,
    )
    objective = Objective("refiner", model, list(model.parameters()), _Loss(model, train, t))
    fit(
        objective,
        settings,
        out / "log.jsonl",
        out / "checkpoints",
        ema=ema,
        validate=on_validate,
        progress=progress,
    )
    if not (out / "model" / "config.json").exists():
        ema.save(out / "model")
    return out / "model"
