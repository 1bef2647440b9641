"""Probe for the refiner (issue 22): can a small learned gate keep the multichannel Wiener
filter's gains on badly separated stems without its damage to good ones?

    python experiments/gated_wiener/gated_wiener.py --train data/gw_train --heldout data/heldout_pairs

Per STFT bin the output is ``S + g (W - S)``: the stem ``S`` moved towards its ``wiener-mc``
estimate ``W`` (the song's stems and mixture through norbert) by a gate ``g`` in [0, 1] from
a small dilated CNN over the log magnitudes of S, W and the mixture X (relative to the crop's
loudest mixture bin, so gain-invariant). The last layer starts at zero with a bias of -6, so
the untrained gate returns the stem. Loss: the SNR gain over the input per crop, losses counted ``--harm-weight`` times. Training pairs come from other songs (Fluid R3 GM, seeds 100+); the held-out pairs are
the bench's (TimGM6mb, seeds 9001+). Results: experiments/gated_wiener/results/.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stemprover.audio import io
from stemprover.audio.stft import ANALYSIS_STFT, StftConfig, istft, stft
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.baselines import Inputs, wiener_mc
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.results import markdown_table, provenance, save_results
from stemprover.evaluation.run import input_bin

CFG = StftConfig(n_fft=ANALYSIS_STFT.n_fft, hop=ANALYSIS_STFT.hop, compress=1.0)


def load_songs(folder: Path, split: str | None) -> list[dict]:
    """Each pair with its clean stem, artifacted stem, mixture and wiener-mc estimate."""
    by_song = defaultdict(list)
    for rec in read_manifest(folder):
        if split is None or rec["split"] == split:
            by_song[rec["song"]].append(rec)
    pairs = []
    for recs in by_song.values():
        arts = [io.read(folder / r["artifacted"], "float64")[0] for r in recs]
        mix = io.read(folder / recs[0]["mixture"], "float64")[0]
        for k, rec in enumerate(recs):
            clean = io.read(folder / rec["clean"], "float64")[0]
            others = tuple(a for j, a in enumerate(arts) if j != k)
            est = wiener_mc(Inputs(arts[k], mix, clean, rec["sample_rate"], others))
            pairs.append({"rec": rec, "clean": clean, "art": arts[k], "mix": mix, "wmc": est})
    return pairs


class Gate(nn.Module):
    """Shape: features ``(B, 3, F, N)`` -> gate ``(B, F, N)`` in [0, 1]."""

    def __init__(self, width: int = 12) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.GELU()]
        for dil in ((1, 2), (2, 4), (4, 8), (8, 16)):
            layers += [nn.Conv2d(width, width, 3, padding=dil, dilation=dil), nn.GELU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, -6.0)  # g = 0.0025: the untrained gate keeps the stem

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.body(feats)))[:, 0]


def features(S: torch.Tensor, W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    ref = X.abs().amax(dim=(-2, -1), keepdim=True) + 1e-9
    logs = [torch.log10(z.abs() / ref + 1e-5) for z in (S, W, X)]
    return torch.stack(logs, dim=1) / 5  # (B, 3, F, N), about [-1, 0]


def apply(gate: Gate, art: torch.Tensor, wmc: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Shape: each ``(B, T)`` -> ``(B, T)``."""
    S, W, X = (stft(x, CFG) for x in (art, wmc, mix))
    g = gate(features(S, W, X))
    return istft(S + g * (W - S), CFG, art.shape[-1])


def crops(pairs: list[dict], rng: np.random.Generator, batch: int, length: int):
    out = {k: [] for k in ("clean", "art", "mix", "wmc")}
    for _ in range(batch):
        p = pairs[int(rng.integers(len(pairs)))]
        ch = int(rng.integers(p["art"].shape[0]))
        start = int(rng.integers(0, max(1, p["art"].shape[-1] - length)))
        for k in out:
            out[k].append(p[k][ch, start : start + length])
    return (torch.from_numpy(np.stack(v).astype(np.float32)) for v in out.values())


def snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    num = (ref**2).sum(-1) + 1e-8
    den = ((est - ref) ** 2).sum(-1) + 1e-8
    return (10 * torch.log10(num / den)).clamp(max=40)


def loss_of(est, art, clean, harm_weight: float) -> torch.Tensor:
    """Negative SNR gain over the input per crop; a loss of SNR counts ``harm_weight`` times."""
    gain = snr(est, clean) - snr(art, clean)
    return (harm_weight * torch.relu(-gain) - torch.relu(gain)).mean()


def train(pairs: list[dict], steps: int, seed: int, log, harm_weight: float = 1.0) -> Gate:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gate = Gate()
    opt = torch.optim.AdamW(gate.parameters(), lr=2e-3)
    length = 44100  # 1 s crops, 4 a batch: about 0.5 s a step on 2 cores
    began = time.time()
    for step in range(1, steps + 1):
        clean, art, mix, wmc = crops(pairs, rng, 4, length)
        loss = loss_of(apply(gate, art, wmc, mix), art, clean, harm_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gate.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == 1:
            log(f"step {step} loss {loss.item():.3f} ({time.time() - began:.0f} s)")
    return gate.eval()


@torch.no_grad()
def score(gate: Gate, pairs: list[dict]) -> list[dict]:
    rows = []
    for p in pairs:
        art, wmc, mix = (torch.from_numpy(p[k].astype(np.float32)) for k in ("art", "wmc", "mix"))
        out = apply(gate, art, wmc, mix).double().numpy()
        start = si_sdr(p["clean"], p["art"])
        rows.append(
            {
                "id": p["rec"]["id"],
                "producer": p["rec"]["producer"],
                "input": start,
                "bin": input_bin(start),
                "gated": si_sdr(p["clean"], out) - start,
                "wiener-mc": si_sdr(p["clean"], p["wmc"]) - start,
            }
        )
    return rows


def table(rows: list[dict]) -> list[dict]:
    groups = {"all": rows}
    for key in ("bin", "producer"):
        for value in sorted({r[key] for r in rows}):
            groups[f"{key}:{value}"] = [r for r in rows if r[key] == value]
    out = []
    for name, sel in groups.items():
        row = {"group": name, "n": len(sel)}
        for system in ("wiener-mc", "gated"):
            gains = np.array([r[system] for r in sel])
            row[system] = f"{gains.mean():+.2f} ({100 * np.mean(gains < -0.5):.0f}%)"
        out.append(row)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--heldout", type=Path, required=True)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--harm-weight", type=float, default=1.0, help="weight of SNR losses")
    p.add_argument("--name", default="gated_wiener")
    args = p.parse_args()
    torch.set_num_threads(2)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    train_pairs = load_songs(args.train, None)
    log(f"{len(train_pairs)} training pairs")
    gate = train(train_pairs, args.steps, args.seed, log, args.harm_weight)
    rows = score(gate, load_songs(args.heldout, "test"))
    summary = table(rows)
    md = (
        "SI-SDR change over the input (dB) on the bench's held-out pairs, and the share of "
        "pairs losing more than 0.5 dB:\n\n"
        + markdown_table(summary, ["group", "n", "wiener-mc", "gated"])
    )
    meta = {**provenance(), "train": str(args.train), "steps": args.steps}
    meta["harm_weight"] = args.harm_weight
    path = save_results(
        Path(__file__).parent / "results",
        args.name,
        meta,
        {"rows": rows, "summary": summary},
        md,
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
