"""Training the song trust layer (``stemprover trust train``): its quality estimate, then its
blend network, on top of a trained refiner (see :mod:`stemprover.models.trust`).

1. **Quality maps** of every stem of the ``train`` split of the ``quality`` pair folders and
   of the ``valid`` split of the validation folders (whole songs), with each stem's input
   SI-SDR as the target.
2. **The quality estimate** (:class:`~stemprover.models.trust.QualityNet`): Huber loss on
   random crops, one-cycle schedule; the step with the lowest rms error on the validation
   stems is kept.
3. **Blend statistics**: song mode as shipped (the refiner and its song filter) over the
   ``train`` split of the ``blend`` folders — songs the refiner never trained on, so its
   output is as good there as on a user's — segment by segment; per segment, stem and
   sub-band the Gram matrix of ``(S, P, Y)`` (and ``C`` with ``trust.cancel``), their inner
   products with the reference and the reference's energy, so the SI-SDR of any blend
   follows exactly (over the stem's STFT segments), and the layer's reference-free features
   with the song's quality estimate (pooled over its segments, as song mode's first pass
   does).
4. **The blend networks**: full-batch AdamW on mean SI-SDR gain plus ``harm`` times the mean
   loss per stem below ``Y`` (or below the better of ``Y`` and the input:
   ``train.harm_below``, :func:`harm_floor`); first ``blend`` (stems estimated at ``below``
   dB or more kept at ``Y``), then, with it fixed, ``good`` for those stems
   (``trust.good_blend``); each network's step with the best mean gain on the validation
   stems is kept.

Every stage's output is kept in the run folder (``cache/``, ``quality.safetensors``) and
reused when the command runs again (an interrupted run resumes at the stage it reached).
``jobs`` pair folders are read in parallel processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import stft
from stemprover.errors import StemProverError
from stemprover.evaluation.metrics import HARM_DB, si_sdr
from stemprover.evaluation.run import song_audio
from stemprover.models.base import weights_sha256
from stemprover.models.trust import (
    BlendNet,
    SongTrust,
    TrustConfig,
    band_features,
    blend_si_sdr,
    exact_terms,
    pooled_quality,
    quality_maps,
    song_prior,
    stem_type,
)

QUALITY_FILE = "quality.safetensors"


@dataclass(frozen=True)
class TrustTrainConfig:
    """``stemprover trust train``'s settings.

    Attributes:
        quality_steps, quality_batch, quality_crop, quality_lr: The quality estimate's
            training (crop in STFT frames: 128 is ~1.5 s).
        steps, lr, weight_decay, harm: The blend network's full-batch training.
        harm_below: What the harm term measures a stem's loss below: ``y``, the song
            filter's output (the level step's); ``best``, the better of it and the input
            stem (the issue's no-harm rule is against the input).
        select: Which validation score picks each blend's step: ``gain``, the mean SI-SDR
            gain; ``objective``, the training loss's (the gain less ``harm`` times the loss
            below the harm floor). Refitted both ways on the end-to-end recipe run's
            statistics (session 36, ``experiments/song_trust/refit.py``): blend step 1000 ->
            700, calibration +3.23 -> +3.21, stems losing > 0.5 dB 5 either way: kept ``gain``.
        segment_seconds: Length of the blend statistics' segments (song mode's).
        songs: At most this many songs per pair folder (0: all).
        seed: Seeds both networks' initialisation and sampling.
    """

    quality_steps: int = 3000
    quality_batch: int = 32
    quality_crop: int = 128
    quality_lr: float = 2e-3
    steps: int = 1000
    lr: float = 3e-3
    weight_decay: float = 0.05
    harm: float = 5.0
    harm_below: str = "y"
    select: str = "gain"
    segment_seconds: float = 4.0
    songs: int = 0
    seed: int = 0


def _spectra(arrays, cfg) -> torch.Tensor:
    return torch.stack([stft(torch.from_numpy(a), cfg) for a in arrays]).to(torch.complex64)


def _songs(folder: Path, split: str, limit: int):
    for n, song in enumerate(song_audio(folder, split)):
        if limit and n >= limit:
            return
        yield song


def collect_quality(folder: Path, split: str, tcfg: TrustConfig, songs: int, out: Path) -> Path:
    """Quality maps (float16, whole songs cut to the shortest), stem types and input SI-SDRs
    of ``split``'s songs in ``folder``, saved to ``out`` (.npz)."""
    from stemprover.audio.stft import StftConfig
    from stemprover.models.trust import log_band_matrix

    cfg = StftConfig(tcfg.n_fft, tcfg.hop, compress=1.0)
    bm = log_band_matrix(tcfg.n_fft, tcfg.sample_rate, tcfg.quality_bands)
    maps, kinds, target, ids = [], [], [], []
    for recs, mix, rate, arts, refs in _songs(folder, split, songs):
        _check_rate(rate, tcfg, folder)
        s, x = _spectra(arts, cfg), _spectra([mix], cfg)[0]
        m = quality_maps(s, x, song_prior(s, x), bm).to(torch.float16)
        for j, rec in enumerate(recs):
            maps.append(m[j].numpy())
            kinds.append(stem_type(rec["stem"]))
            target.append(si_sdr(refs[j], arts[j]))
            ids.append(rec["id"])
    if not maps:
        raise StemProverError(f"no songs in the {split!r} split", folder)
    width = min(a.shape[-1] for a in maps)
    _save(
        out,
        maps=np.stack([a[..., :width] for a in maps]),
        kinds=np.array(kinds),
        target=np.array(target, dtype=np.float32),
        ids=np.array(ids),
    )
    return out


def _save(out: Path, **arrays) -> None:
    """``np.savez`` through a temporary name, so an interrupted write is never read back."""
    tmp = out.with_name(out.name + ".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)


def _check_rate(rate: int, tcfg: TrustConfig, folder: Path) -> None:
    if rate != tcfg.sample_rate:
        raise StemProverError(
            f"pairs at {rate} Hz; the trust layer works at the refiner's {tcfg.sample_rate} Hz",
            folder,
        )


def _load_maps(paths: list[Path]):
    d = [np.load(p) for p in paths]
    width = min(x["maps"].shape[-1] for x in d)
    maps = torch.from_numpy(np.concatenate([x["maps"][..., :width] for x in d])).float()
    cat = lambda k: torch.from_numpy(np.concatenate([x[k] for x in d]))  # noqa: E731
    return maps, cat("kinds").long(), cat("target").float()


def _quality_error(net, maps, kinds, target) -> float:
    with torch.no_grad():
        pred = torch.cat(
            [net(maps[i : i + 64], kinds[i : i + 64]) for i in range(0, len(maps), 64)]
        )
    return (pred - target.clamp(-10, 40)).pow(2).mean().sqrt().item()


def train_quality(
    trust: SongTrust, train: list[Path], valid: list[Path], cfg: TrustTrainConfig, log
) -> dict:
    """Train ``trust.quality`` (in place) on the maps in ``train``; keep the step with the
    lowest rms error on ``valid``. Returns ``{step, rms}`` of that step."""
    torch.manual_seed(cfg.seed)
    maps, kinds, target = _load_maps(train)
    vmaps, vkinds, vtarget = _load_maps(valid)
    if maps.shape[-1] < cfg.quality_crop:
        raise StemProverError(f"songs shorter than the {cfg.quality_crop}-frame crops")
    net = trust.quality
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.quality_lr, weight_decay=1e-2)
    total = max(4, cfg.quality_steps)  # 5% warm-up, at least two steps (tiny runs)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, cfg.quality_lr, total_steps=total, pct_start=max(0.05, 2 / total)
    )
    best = {"step": -1, "rms": float("inf")}
    state = None
    t0 = time.time()
    for step in range(cfg.quality_steps + 1):
        if step % 100 == 0 or step == cfg.quality_steps:
            net.eval()
            rms = _quality_error(net, vmaps, vkinds, vtarget)
            net.train()
            if rms < best["rms"]:
                best = {"step": step, "rms": rms}
                state = {k: v.clone() for k, v in net.state_dict().items()}
            log(f"quality step {step} ({time.time() - t0:.0f} s): validation rms {rms:.2f} dB")
        if step == cfg.quality_steps:
            break
        idx = torch.randint(len(maps), (cfg.quality_batch,))
        start = int(torch.randint(maps.shape[-1] - cfg.quality_crop + 1, (1,)))
        pred = net(maps[idx, ..., start : start + cfg.quality_crop], kinds[idx])
        loss = torch.nn.functional.huber_loss(pred, target[idx].clamp(-10, 40), delta=3.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.load_state_dict(state)
    net.eval()
    return best


def collect_blend(
    folder: Path,
    split: str,
    model_name: str,
    trust_dir: Path,
    songs: int,
    segment_seconds: float,
    out: Path,
) -> Path:
    """Blend statistics (module docstring, stage 3) of ``split``'s songs in ``folder``, with
    the refiner ``model_name`` and the quality estimate saved in ``trust_dir``; to ``out``."""
    from stemprover.models.base import load_model

    model = load_model(model_name, adapters="none")
    if not hasattr(model, "refine_stems"):
        raise StemProverError(f"{model_name!r} is not a refiner: the trust layer follows one")
    trust = _trust_with_quality(trust_dir)
    cfg = model.config.stft
    seg = max(1, round(segment_seconds * model.sample_rate / cfg.hop))
    rows = {k: [] for k in ("feats", "gram", "cross", "ref", "quality", "key")}
    meta = {k: [] for k in ("ids", "input_db", "kinds")}
    with torch.no_grad():
        for recs, mix, rate, arts, refs in _songs(folder, split, songs):
            _check_rate(rate, trust.config, folder)
            s_all, r_all = _spectra(arts, cfg), _spectra(refs, cfg)
            x_all = _spectra([mix], cfg)[0]
            kinds = torch.tensor([stem_type(r["stem"]) for r in recs])
            parts, found = [], []
            for lo in range(0, s_all.shape[-1], seg):
                s, r, x = (z[..., lo : lo + seg] for z in (s_all, r_all, x_all))
                y, gate, p = model.song_parts(s, x, "level")  # the song filter as shipped
                p = song_prior(s, x) if p is None else p
                found.append(trust.segment_estimate(s, x, kinds, p))
                cands, rho = trust.candidates(s, x, p, y)
                terms = exact_terms(cands, r, trust.ranges)
                parts.append((trust.energies(cands, x, gate, rho), *terms))
            q = pooled_quality(*zip(*found, strict=True))  # as song mode's first pass
            for en, gram, cross, ref in parts:
                for k, v in zip(
                    ("feats", "gram", "cross", "ref", "quality"),
                    (band_features(en, kinds, q), gram, cross, ref, q),
                    strict=True,
                ):
                    rows[k].append(v.numpy())
                rows["key"].append(np.arange(len(recs)) + len(meta["ids"]))
            for j, rec in enumerate(recs):
                meta["ids"].append(rec["id"])
                meta["input_db"].append(si_sdr(refs[j], arts[j]))
                meta["kinds"].append(int(kinds[j]))
    if not meta["ids"]:
        raise StemProverError(f"no songs in the {split!r} split", folder)
    _save(
        out,
        **{k: np.concatenate(v) for k, v in rows.items()},
        **{k: np.array(v) for k, v in meta.items()},
    )
    return out


class BlendStats:
    """Blend statistics of one or more pair folders, scored exactly: the SI-SDR (dB, over
    each stem's STFT segments) of any weights ``(rows, B, K)`` over their K candidates."""

    def __init__(self, paths: list[Path]) -> None:
        d = [np.load(p) for p in paths]
        cat = lambda k: torch.from_numpy(np.concatenate([x[k] for x in d]))  # noqa: E731
        offsets = np.cumsum([0] + [len(x["ids"]) for x in d[:-1]])
        self.key = torch.from_numpy(
            np.concatenate([x["key"] + o for x, o in zip(d, offsets, strict=True)])
        )
        self.feats, self.gram, self.cross = cat("feats"), cat("gram"), cat("cross")
        self.ref, self.quality = cat("ref"), cat("quality")
        self.input_db = np.concatenate([x["input_db"] for x in d])
        self.n = len(self.input_db)

    def one_hot(self, k: int) -> torch.Tensor:
        w = torch.zeros(*self.ref.shape, self.gram.shape[-1], dtype=torch.float64)
        w[..., k] = 1
        return w

    def weights(self, trust: SongTrust) -> torch.Tensor:
        return trust.band_weights(self.feats, self.quality)

    def score(self, w: torch.Tensor) -> torch.Tensor:
        return blend_si_sdr(w, self.gram, self.cross, self.ref, self.key, self.n)


HARM_BELOW = ("y", "best")


SELECT = ("gain", "objective")


def check_harm_below(below: str) -> None:
    if below not in HARM_BELOW:
        raise StemProverError(f"unknown train.harm_below {below!r} ({', '.join(HARM_BELOW)})")


def check_settings(cfg: TrustTrainConfig) -> None:
    """The named settings' values, before any stage runs (not after an hour of them)."""
    check_harm_below(cfg.harm_below)
    if cfg.select not in SELECT:
        raise StemProverError(f"unknown train.select {cfg.select!r} ({', '.join(SELECT)})")


def harm_floor(base: torch.Tensor, ship: torch.Tensor, below: str) -> torch.Tensor:
    """Per stem, the SI-SDR under which the harm term counts a loss: the song filter's
    (``ship``, ``below="y"``) or the better of it and the input's (``base``, ``"best"``)."""
    check_harm_below(below)
    return ship if below == "y" else torch.maximum(ship, base)


def _blend_loss(sdr, base, floor, harm: float) -> torch.Tensor:
    """The blends' loss: minus the mean SI-SDR gain over the input (each stem's capped at
    30 dB) plus ``harm`` times the mean loss below ``floor`` (:func:`harm_floor`)."""
    return -(sdr - base).clamp(max=30).mean() + harm * (floor - sdr).clamp_min(0).mean()


def train_blend(
    trust: SongTrust,
    train: BlendStats,
    valid: BlendStats,
    cfg: TrustTrainConfig,
    log,
    which: str = "blend",
) -> dict:
    """Train ``trust.blend`` or ``trust.good`` (``which``; in place, the other fixed); keep
    the step that scores best on ``valid`` by ``cfg.select``: the mean SI-SDR gain, or the
    training objective itself (the gain less the harm term). Returns ``{step, gain, shipped,
    objective, losing}`` (validation: dB over the input, the objective, the share of stems
    losing more than ``HARM_DB``)."""
    torch.manual_seed(cfg.seed)
    net = getattr(trust, which)
    if train.gram.shape[-1] != trust.config.candidates:
        raise StemProverError(
            f"blend statistics of {train.gram.shape[-1]} candidates; the layer blends "
            f"{trust.config.candidates} (trust.cancel)"
        )
    fresh = BlendNet(train.feats.shape[-1], trust.config.hidden, trust.config.candidates)
    net.load_state_dict(fresh.state_dict())
    trust.requires_grad_(False)
    net.requires_grad_(True)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    base, ship = train.score(train.one_hot(0)), train.score(train.one_hot(2))
    floor = harm_floor(base, ship, cfg.harm_below)
    vbase, vship = valid.score(valid.one_hot(0)), valid.score(valid.one_hot(2))
    vfloor, shipped = harm_floor(vbase, vship, cfg.harm_below), (vship - vbase).mean().item()
    best, state = {"step": -1, "gain": -float("inf"), "shipped": shipped}, None
    key = -float("inf")
    for step in range(cfg.steps + 1):
        if step % 100 == 0 or step == cfg.steps:
            with torch.no_grad():
                vsdr = valid.score(valid.weights(trust))
            gain = (vsdr - vbase).mean().item()
            objective = -_blend_loss(vsdr, vbase, vfloor, cfg.harm).item()
            losing = ((vsdr - vbase) < -HARM_DB).double().mean().item()
            now = gain if cfg.select == "gain" else objective
            if now > key:
                key = now
                best.update(step=step, gain=gain, objective=objective, losing=losing)
                state = {k: v.clone() for k, v in net.state_dict().items()}
            log(
                f"{which} step {step}: validation {gain:+.3f} dB (song filter alone "
                f"{shipped:+.3f}), objective {objective:+.3f}, {losing:.1%} losing > {HARM_DB} dB"
            )
        if step == cfg.steps:
            break
        loss = _blend_loss(train.score(train.weights(trust)), base, floor, cfg.harm)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.load_state_dict(state)
    trust.eval().requires_grad_(False)
    return best


def _save_quality(trust: SongTrust, out: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in trust.quality.state_dict().items()}, str(out))


def _reuse_quality(trust: SongTrust, layer: Path, out: Path) -> None:
    """Save the quality estimate of the trained layer in ``layer`` as this run's (``out``);
    its maps must be ``trust``'s."""
    old = SongTrust.load(layer)
    keys = ("n_fft", "hop", "sample_rate", "quality_bands", "quality_channels")
    differ = [k for k in keys if getattr(old.config, k) != getattr(trust.config, k)]
    if differ:
        raise StemProverError(
            f"its quality estimate reads other maps ({', '.join(differ)} differ)", layer
        )
    trust.quality.load_state_dict(old.quality.state_dict())
    _save_quality(trust, out)


def _trust_with_quality(run: Path) -> SongTrust:
    from stemprover.models.serialization import load_into, load_state

    meta = json.loads((run / "trust.json").read_text())
    trust = SongTrust(TrustConfig(**meta["config"]))
    load_into(trust.quality, load_state(run / QUALITY_FILE), run / QUALITY_FILE)
    return trust.eval()


def _parallel(jobs: int, tasks: list[tuple], log) -> None:
    """Run ``(function, *args)`` tasks (each writes its own file), ``jobs`` at a time in
    processes of one thread each (``jobs`` 1: here)."""
    if jobs <= 1:
        for fn, *a in tasks:
            log(f"{fn.__name__}: {a[0]} ({a[1]})")
            fn(*a)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        futures = {pool.submit(fn, *a): f"{fn.__name__}: {a[0]} ({a[1]})" for fn, *a in tasks}
        for f in cf.as_completed(futures):
            f.result()
            log(futures[f])


def _valid_split(folder: Path, log) -> str:
    """``valid``, or ``train`` (said) for a pairs folder without a valid split (a few songs
    put in one split), as ``stemprover refiner train`` does."""
    from stemprover.evaluation.run import split_records

    if split_records(folder, "valid")[0]:
        return "valid"
    log(f"{folder}: no valid split, validating on its training songs")
    return "train"


def _cached(run: Path, kind: str, folder: Path, split: str) -> Path:
    """A stage's file for one pairs folder: its name and a hash of its path (two folders
    called ``pairs`` do not share one)."""
    where = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:8]
    return run / "cache" / f"{kind}-{folder.resolve().name}-{where}-{split}.npz"


def train_trust(
    model_name: str,
    quality_pairs: list[Path],
    blend_pairs: list[Path],
    valid_pairs: list[Path],
    run: Path,
    cfg: TrustTrainConfig,
    tcfg: TrustConfig,
    jobs: int = 1,
    verbose: bool = True,
    quality_from: Path | None = None,
    blend_only: list[Path] = (),
) -> Path:
    """The four stages (module docstring) into ``run``; the trained layer in ``run/model``.
    ``quality_from``: a trained layer's folder whose quality estimate is reused (stages 1 and
    2 skipped). ``blend_only``: more pairs folders for the blends (train split), not the
    quality estimate. Returns that folder."""
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if verbose else (lambda m: None)
    check_settings(cfg)
    (run / "cache").mkdir(parents=True, exist_ok=True)
    meta = {"config": tcfg.__dict__, "train": cfg.__dict__, "model": model_name}
    if quality_from is not None:
        meta["quality_from"] = str(quality_from)
    meta["model_sha256"] = weights_sha256(model_name)  # its blend statistics are the model's
    old = run / "trust.json"
    if old.exists():
        was = json.loads(old.read_text())
        was.setdefault("model_sha256", meta["model_sha256"])  # a run from before the hash
        if was != meta:
            changed = (
                "model's weights" if was["model_sha256"] != meta["model_sha256"] else "settings"
            )
            raise StemProverError(
                f"this run folder was made with other {changed} (trust.json)", run
            )
    old.write_text(json.dumps(meta, indent=2) + "\n")
    trust = SongTrust(tcfg)
    if quality_from is not None and not (run / QUALITY_FILE).exists():
        _reuse_quality(trust, quality_from, run / QUALITY_FILE)
        log(f"quality estimate: {quality_from}'s")

    qtrain = [(f, "train") for f in dict.fromkeys([*quality_pairs, *blend_pairs])]
    qvalid = [(f, _valid_split(f, log)) for f in valid_pairs]
    if not (run / QUALITY_FILE).exists():  # (its maps are not needed once it is trained)
        todo = [
            (collect_quality, f, s, tcfg, cfg.songs, _cached(run, "quality", f, s))
            for f, s in qtrain + qvalid
            if not _cached(run, "quality", f, s).exists()
        ]
        _parallel(jobs, todo, log)
        best = train_quality(
            trust,
            [_cached(run, "quality", f, s) for f, s in qtrain],
            [_cached(run, "quality", f, s) for f, s in qvalid],
            cfg,
            log,
        )
        log(f"quality estimate: step {best['step']}, validation rms {best['rms']:.2f} dB")
        _save_quality(trust, run / QUALITY_FILE)
    trust = _trust_with_quality(run)

    btrain = [(f, "train") for f in dict.fromkeys([*blend_pairs, *blend_only])]
    bvalid = qvalid
    todo = [
        (
            collect_blend,
            f,
            s,
            model_name,
            run,
            cfg.songs,
            cfg.segment_seconds,
            _cached(run, "blend", f, s),
        )
        for f, s in btrain + bvalid
        if not _cached(run, "blend", f, s).exists()
    ]
    _parallel(jobs, todo, log)
    train = BlendStats([_cached(run, "blend", f, s) for f, s in btrain])
    valid = BlendStats([_cached(run, "blend", f, s) for f, s in bvalid])
    best = {}
    for which in ("blend", "good") if trust.good is not None else ("blend",):
        best[which] = b = train_blend(trust, train, valid, cfg, log, which)
        log(
            f"{which}: step {b['step']}, validation {b['gain']:+.3f} dB over the input "
            f"(song filter alone {b['shipped']:+.3f}; exact STFT-domain SI-SDR)"
        )
    trust.save(run / "model")
    (run / "model" / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    return run / "model"
