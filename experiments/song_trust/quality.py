"""A learned, reference-free estimate of how good a separated stem is (its SI-SDR), from what
song mode has: the stem, the mixture, the song's other stems and the classical prior.

``fit.py --quality-oracle`` shows that a trust layer that knows each stem's input SI-SDR, even
within 4 dB, takes most of the headroom; the band energies and the detector's severities
estimate it to only ~7 dB rms. This trains a small convolutional regressor on maps of each
stem against its mixture (64 log-spaced bands x frames: the stem's, the prior's, their
difference's and the siblings' power against the mixture's, the mixture's level, the stem's
phase agreement with the mixture) and writes its estimates for ``fit.py --severities``.

    python experiments/song_trust/quality.py features data/v3_mixed --split train --out f.npz
    python experiments/song_trust/quality.py train --train f1.npz ... --eval v.npz c.npz \
        --out q.pt --predict pred.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import song_audio
from stemprover.models.trust import STEM_TYPES as STEMS
from stemprover.models.trust import QualityNet, log_band_matrix, quality_maps, song_prior

N_FFT, HOP, BANDS, RATE = 2048, 512, 64, 44100


def song_maps(arts: list[np.ndarray], mix: np.ndarray) -> torch.Tensor:
    """(J, 6, BANDS, N) float16 maps for one song's stems (the library's ``quality_maps``)."""
    win = torch.hann_window(N_FFT, dtype=torch.float64)
    spec = lambda a: torch.stft(torch.from_numpy(a), N_FFT, HOP, window=win, return_complex=True)  # noqa: E731
    s = torch.stack([spec(a) for a in arts]).to(torch.complex64)  # (J, C, F, N)
    x = spec(mix).to(torch.complex64)
    bm = log_band_matrix(N_FFT, RATE, BANDS)
    return quality_maps(s, x, song_prior(s, x), bm).to(torch.float16)


def features(args) -> None:
    maps, ids, stems, target = [], [], [], []
    n = 0
    for folder in args.pairs:
        for recs, mix, _rate, arts, refs in song_audio(folder, args.split):
            m = song_maps([a.astype(np.float64) for a in arts], mix)
            for j, rec in enumerate(recs):
                maps.append(m[j].numpy())
                ids.append(rec["id"])
                stems.append(STEMS.index(rec["stem"]))
                target.append(si_sdr(refs[j], arts[j]))
            n += 1
            if n % 10 == 0:
                print(f"{n} songs", file=sys.stderr, flush=True)
            if args.songs and n >= args.songs:
                break
    width = min(a.shape[-1] for a in maps)
    np.savez(
        args.out,
        maps=np.stack([a[..., :width] for a in maps]),
        ids=np.array(ids),
        stems=np.array(stems),
        target=np.array(target, dtype=np.float32),
    )


def load(paths):
    d = [np.load(p) for p in paths]
    width = min(x["maps"].shape[-1] for x in d)
    maps = torch.from_numpy(np.concatenate([x["maps"][..., :width] for x in d])).float()
    cat = lambda k: np.concatenate([x[k] for x in d])  # noqa: E731
    return maps, torch.from_numpy(cat("stems")), torch.from_numpy(cat("target")).float(), cat("ids")


def evaluate(model, maps, stems, target) -> tuple[float, float, np.ndarray]:
    with torch.no_grad():
        pred = torch.cat(
            [model(maps[i : i + 64], stems[i : i + 64]) for i in range(0, len(maps), 64)]
        )
    t = target.clamp(-10, 40)
    rms = (pred - t).pow(2).mean().sqrt().item()
    return rms, float(np.corrcoef(pred.numpy(), t.numpy())[0, 1]), pred.numpy()


def train(args) -> None:
    torch.manual_seed(0)
    maps, stems, target, _ = load(args.train)
    evs = [load([p]) for p in args.eval]
    model = QualityNet()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=args.steps, pct_start=0.05)
    crop = args.crop
    # --balance: each input-quality bin (< 5, 5-10, 10-15, >= 15 dB) drawn equally often
    bins = torch.bucketize(target, torch.tensor([5.0, 10.0, 15.0]))
    weights = 1 / torch.bincount(bins, minlength=4).float()[bins]
    best = (np.inf, None)
    t0 = time.time()
    for step in range(args.steps + 1):
        if step % 100 == 0:
            model.eval()
            scores = [evaluate(model, m, s, t)[:2] for m, s, t, _ in evs]
            model.train()
            if scores[0][0] < best[0]:
                best = (scores[0][0], {k: v.clone() for k, v in model.state_dict().items()})
            print(
                f"step {step} ({time.time() - t0:.0f} s): "
                + "  ".join(f"rms {r:.1f} dB r {c:.2f}" for r, c in scores),
                flush=True,
            )
        if step == args.steps:
            break
        idx = (
            torch.multinomial(weights, args.batch, replacement=True)
            if args.balance
            else torch.randint(len(maps), (args.batch,))
        )
        start = torch.randint(maps.shape[-1] - crop + 1, (1,)).item()
        pred = model(maps[idx, ..., start : start + crop], stems[idx])
        loss = nn.functional.huber_loss(pred, target[idx].clamp(-10, 40), delta=3.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.load_state_dict(best[1])
    model.eval()
    torch.save(model.state_dict(), args.out)
    if args.predict:
        ids, preds = [], []
        for path in [*args.train, *args.eval]:
            m, s, t, i = load([path])
            rms, r, p = evaluate(model, m, s, t)
            print(f"{path}: rms {rms:.1f} dB, r {r:.2f} ({len(i)} stems)")
            ids += list(i)
            preds += list(p)
        # one column, in the severities.py format (fit.py --severities ... --severities-only)
        np.savez(
            args.predict, ids=np.array(ids), sev=np.array(preds, dtype=np.float32)[:, None] / 20
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("features")
    f.add_argument("pairs", nargs="+", type=Path)
    f.add_argument("--split", default="train")
    f.add_argument("--songs", type=int, default=0)
    f.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--train", nargs="+", required=True)
    t.add_argument("--eval", nargs="+", required=True)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--crop", type=int, default=128, help="frames (~1.5 s)")
    t.add_argument("--balance", action="store_true", help="draw the input-quality bins equally")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--predict", type=Path)
    args = ap.parse_args()
    features(args) if args.cmd == "features" else train(args)


if __name__ == "__main__":
    main()
