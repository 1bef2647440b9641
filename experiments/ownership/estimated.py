"""How much of the ownership oracle's headroom (session 37, ``level_loss/owned_oracle.py``)
an estimate of the share gets without training (session 38): the default's output with the
mixture put in the bins where an **estimated** share is at least ``τ``, on a pairs folder's
valid songs (whole songs, one STFT).

    PYTHONPATH=experiments/song_trust:experiments/level_loss \
      python experiments/ownership/estimated.py data/calib_sm --songs 12

Estimates of stem j's share of a bin: ``out``, the default's outputs' power share
``|t_j|² / Σ_k |t_k|²``; ``in``, the input stems'; ``both``, the smaller of the two.
``fill``: ``t_j + share_j · (x − Σ_k t_k)`` where the share is at least ``τ`` (what the
stems leave out of the mixture, given by share). Per row, the energy share of the chosen bins
whose true share is ≥ 0.99 (precision). The model's outputs are cached in ``--cache``
(``--cache-only``: only that, for the other scripts of this folder and ``ensemble/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from bleed_stages import load_model, valid_songs
from missing_level import true_share
from post_level import scores

METRICS = ("si_sdr", "level", "bleedless", "fullness")
TAUS = (0.9, 0.95, 0.99)


def power_share(z: torch.Tensor) -> torch.Tensor:
    p = z.abs().pow(2)
    return p / p.sum(0, keepdim=True).clamp_min(1e-20)


def variants(t, s, x, share_true):
    """(name, output, chosen bins) for each system of the table."""
    xs = x.expand_as(t)
    est = {"out": power_share(t), "in": power_share(s)}
    est["both"] = torch.minimum(est["out"], est["in"])
    yield "default", t, None
    for tau in (0.99, 0.9):
        m = share_true >= tau
        yield f"oracle ≥ {tau}", torch.where(m, xs, t), m
    for key, e in est.items():
        for tau in TAUS:
            m = e >= tau
            yield f"{key} ≥ {tau}", torch.where(m, xs, t), m
    rest = x - t.sum(0)
    for tau in TAUS:
        m = est["out"] >= tau
        yield f"fill out ≥ {tau}", torch.where(m, t + est["out"] * rest, t), m


def cli(doc: str, *extra: tuple[str, dict]) -> argparse.Namespace:
    """This folder's options: a pairs folder, ``--model``, ``--songs`` (0: all), ``--cache``
    and ``extra`` ``(flag, add_argument keywords)``."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--model", default="src/stemprover/weights/default")
    ap.add_argument("--songs", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/ownership_cache"))
    for flag, kw in extra:
        ap.add_argument(flag, **kw)
    return ap.parse_args()


def cached_outputs(a: argparse.Namespace):
    """``(n, song, t)`` for each valid song of ``a.pairs``: the model's song-mode output
    ``t``, read from ``a.cache`` or computed and saved there."""
    model = load_model(a.model)
    a.cache.mkdir(parents=True, exist_ok=True)
    for n, song in enumerate(valid_songs(model, a.pairs, a.songs)):
        path = a.cache / f"{a.pairs.name}_{n}.pt"
        if path.exists():
            t = torch.load(path)
        else:
            with torch.no_grad():
                t = model.refine_song(song.s, song.x, "trust", [r["stem"] for r in song.recs])
            torch.save(t, path)
        yield n, song, t


def main() -> None:
    a = cli(__doc__, ("--cache-only", {"action": "store_true"}))
    rows: dict[str, list] = {"input": []}
    prec: dict[str, list] = {}
    for n, song, t in cached_outputs(a):
        if a.cache_only:
            continue
        pr, share = true_share(song)
        for j, ref in enumerate(song.refs):
            got = scores(ref, song.wave(song.s[j]), 44100)
            rows["input"].append([got[k] for k in METRICS])
        for key, z, m in variants(t, song.s, song.x, share):
            for j, ref in enumerate(song.refs):
                got = scores(ref, song.wave(z[j]), 44100)
                rows.setdefault(key, []).append([got[k] for k in METRICS])
                if m is not None:
                    e = pr[j] * m[j]
                    hit = float((e * (share[j] >= 0.99)).sum())
                    prec.setdefault(key, []).append((hit, float(e.sum()), float(pr[j].sum())))
        print(f"song {n + 1} done", flush=True)
    if a.cache_only:
        return
    base = np.array(rows["input"])
    print(f"{len(base)} stems")
    print("| system | SI-SDR Δ | level | bleedless | fullness | chosen energy | precision |")
    print("|---|---|---|---|---|---|---|")
    for key, r in rows.items():
        r = np.array(r)
        m = np.nanmean(r, 0)
        cells = ["", ""]
        if key in prec:
            p = np.array(prec[key])
            cells = [
                f"{p[:, 1].sum() / p[:, 2].sum():.2f}",
                f"{p[:, 0].sum() / max(p[:, 1].sum(), 1e-20):.2f}",
            ]
        print(
            f"| {key} | {np.nanmean(r[:, 0] - base[:, 0]):+.2f} | {m[1]:+.2f} | {m[2]:.2f} | "
            f"{m[3]:.2f} | {cells[0]} | {cells[1]} |"
        )


if __name__ == "__main__":
    main()
