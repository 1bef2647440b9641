"""Steps after the trust layer, for level, bleedless and fullness (session 32): each stem
of a pairs folder's valid songs through song mode with session 31's layer, its quiet bins not
capped (whole songs, one STFT, the song's own quality estimate), then each variant; SI-SDR
change over the input, level, bleedless and fullness per input bin.

    python experiments/song_trust/post_level.py data/calib_sm   # ~25 min on 2 cores

(rows to /tmp/calib_sm_post_level.json; the song-mode outputs are cached in /tmp/post_cache.)
Variants (``t``: the trust layer's output, ``y``: the level step's, ``s``: the stem; "quiet":
``QUIET_DB`` under the stem's loudest bin, per stem and channel over the song):

- ``uncapped`` t; ``y``.
- ``gain±G``: t raised by G dB (SI-SDR is blind to it).
- ``loud+G@D``: t raised by G dB where it is within D dB of its loudest bin (the level is
  the loud bins' energy; bleedless and fullness are a mean over every mel cell).
- ``xcap``: where the stems together are louder than the mixture, all scaled down to it;
  ``xcap-quiet``: only in each stem's quiet bins.
- ``qcapC``: t no more than C dB over the stem in its quiet bins; ``eE``: not where the stem
  is E dB or more under its loudest (empty: a lost high, a hole). ``qcap0e80`` is
  ``refiner.cap_quiet`` as shipped (``trust.quiet_cap = 0``), but per song, not per segment.
- ``silenceD``: t no louder than the stem in the frames D dB under the stem's loudest frame.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from bleed_stages import cli, load_model, valid_songs

from stemprover.evaluation.metrics import bleed_and_fullness, level_db, si_sdr
from stemprover.evaluation.run import input_bin
from stemprover.models.refiner import QUIET_DB, cap_quiet, quiet_bins

INF = float("inf")  # no bin counts as empty


def loud_gain(t: torch.Tensor, gain_db: float, within_db: float) -> torch.Tensor:
    pw = t.abs().pow(2)
    loud = pw >= pw.amax(dim=(-2, -1), keepdim=True) * 10 ** (-within_db / 10)
    return torch.where(loud, t * 10 ** (gain_db / 20), t)


def mix_cap(t: torch.Tensor, x: torch.Tensor, only=None) -> torch.Tensor:
    """Where the stems together are louder than the mixture, all scaled down to it (``only``:
    a boolean mask of the bins where it applies)."""
    g = (x.abs().pow(2) / t.abs().pow(2).sum(0).clamp_min(1e-20)).clamp(max=1.0).sqrt()
    out = t * g
    return out if only is None else torch.where(only, out, t)


def silence_cap(t: torch.Tensor, s: torch.Tensor, below_db: float) -> torch.Tensor:
    """``t`` no louder than the stem in any bin of the frames where the stem is ``below_db``
    dB under its loudest frame (per stem and channel): where it is silent."""
    pf = s.abs().pow(2).sum(-2, keepdim=True)
    silent = pf < pf.amax(dim=-1, keepdim=True) * 10 ** (-below_db / 10)
    over = silent & (t.abs() > s.abs())
    return torch.where(over, t * s.abs() / t.abs().clamp_min(1e-12), t)


VARIANTS = {
    "uncapped": lambda c: c.t,
    "y": lambda c: c.y,
    "gain-0.5": lambda c: c.t * 10 ** (-0.5 / 20),
    "gain+0.5": lambda c: c.t * 10 ** (0.5 / 20),
    "gain+1.0": lambda c: c.t * 10 ** (1.0 / 20),
    "loud+1@20": lambda c: loud_gain(c.t, 1.0, 20),
    "loud+1@30": lambda c: loud_gain(c.t, 1.0, 30),
    "loud+2@20": lambda c: loud_gain(c.t, 2.0, 20),
    "xcap": lambda c: mix_cap(c.t, c.x),
    "xcap-quiet": lambda c: mix_cap(c.t, c.x, quiet_bins(c.s, QUIET_DB)),
    "qcap0": lambda c: cap_quiet(c.t, c.s, 0.0, empty_db=INF),
    "qcap6": lambda c: cap_quiet(c.t, c.s, 6.0, empty_db=INF),
    "qcap0e80": lambda c: cap_quiet(c.t, c.s, 0.0, empty_db=80.0),
    "qcap6e80": lambda c: cap_quiet(c.t, c.s, 6.0, empty_db=80.0),
    "qcap6e60": lambda c: cap_quiet(c.t, c.s, 6.0, empty_db=60.0),
    "qcap12e80": lambda c: cap_quiet(c.t, c.s, 12.0, empty_db=80.0),
    "silence30": lambda c: silence_cap(c.t, c.s, 30.0),
    "silence42": lambda c: silence_cap(c.t, c.s, 42.5),
    "qcap0e80+silence30": lambda c: silence_cap(cap_quiet(c.t, c.s, 0.0, empty_db=80.0), c.s, 30.0),
    "qcap6e80+silence30": lambda c: silence_cap(cap_quiet(c.t, c.s, 6.0, empty_db=80.0), c.s, 30.0),
}


def scores(ref: np.ndarray, est: np.ndarray, rate: int) -> dict[str, float]:
    bl, fu = bleed_and_fullness(ref, est, rate)
    return {
        "si_sdr": si_sdr(ref, est),
        "level": level_db(ref, est),
        "bleedless": bl,
        "fullness": fu,
    }


def bin_table(rows: dict[str, list]) -> None:
    """Print the per-input-bin table of ``rows`` (system -> one ``[si_sdr, level, bleedless,
    fullness]`` per stem, ``input`` among them): SI-SDR change over the input (stems losing
    > 0.5 dB) overall and per bin, then the three means."""
    from stemprover.evaluation.run import INPUT_BINS, input_bin

    r = {k: np.array(v) for k, v in rows.items()}
    base = r["input"][:, 0]
    bins = np.array([input_bin(v) for v in base])
    names = [name for _, name in INPUT_BINS if name in set(bins)]
    print(f"{len(base)} stems")
    head = " | ".join(f"{b} ({(bins == b).sum()})" for b in names)
    print(f"| system | all | {head} | level | bleedless | fullness |")
    print("|---" * (5 + len(names)) + "|")
    for key, v in r.items():
        d = v[:, 0] - base
        cells = [
            f"{np.nanmean(d[bins == b]):+.2f} ({int((d[bins == b] < -0.5).sum())})" for b in names
        ]
        m = np.nanmean(v, 0)
        print(
            f"| {key} | {np.nanmean(d):+.2f} ({int((d < -0.5).sum())}) | "
            + " | ".join(cells)
            + f" | {m[1]:+.2f} | {m[2]:.2f} | {m[3]:.2f} |"
        )


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    model.trust.config = replace(model.trust.config, quiet_cap=None)  # session 31's layer
    rows = []
    cache = Path("/tmp/post_cache") / a.pairs.name
    cache.mkdir(parents=True, exist_ok=True)
    for n, song in enumerate(valid_songs(model, a.pairs, a.songs)):
        names = [r["stem"] for r in song.recs]
        path = cache / f"{n}.pt"
        if path.exists():
            t, y = torch.load(path)
        else:
            with torch.no_grad():
                y, gate, p = model.song_parts(song.s, song.x, "trust")
                t = model.song_trust(song.s, song.x, y, gate, p, names)
            torch.save((t, y), path)
        c = SimpleNamespace(t=t, y=y, s=song.s, x=song.x)
        outs = {name: f(c) for name, f in VARIANTS.items()}
        for j, rec in enumerate(song.recs):
            ref = song.refs[j]
            row = {"stem": rec["stem"], "input": scores(ref, song.wave(song.s[j]), 44100)}
            for name, z in outs.items():
                row[name] = scores(ref, song.wave(z[j]), 44100)
            rows.append(row)
        print(len(rows), flush=True)
    out = Path("/tmp") / f"{a.pairs.name}_post_level.json"
    out.write_text(json.dumps(rows))
    summarise(rows)


def summarise(rows: list[dict]) -> None:
    groups = defaultdict(list)
    for r in rows:
        groups["all"].append(r)
        groups[input_bin(r["input"]["si_sdr"])].append(r)
    print("| variant | group | n | SI-SDR change | level | bleedless | fullness |")
    print("|---|---|---|---|---|---|---|")
    for name in ("input", *VARIANTS):
        for key, g in groups.items():
            m = lambda k, g=g, name=name: np.nanmean([r[name][k] for r in g])  # noqa: E731
            gain = np.nanmean([r[name]["si_sdr"] - r["input"]["si_sdr"] for r in g])
            print(
                f"| {name} | {key} | {len(g)} | {gain:+.2f} | {m('level'):+.2f} | "
                f"{m('bleedless'):.2f} | {m('fullness'):.2f} |"
            )


if __name__ == "__main__":
    main()
