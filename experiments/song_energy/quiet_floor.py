"""What should the level step keep a quiet bin at? ``refiner.song_level`` keeps bins more than
40 dB below a stem's loudest from being attenuated below the input (``|Y| ≥ |S|``): fullness
above the input's on validation and held-out songs, but on the held-out set (simulated bleed)
bleedless falls below the input's (41.7 vs 44.2 at 13d437b): where the input's quiet bins are
another stem's bleed, keeping them keeps the bleed. Floors measured here, the network run
once per segment and the song filters applied to its output:

- ``classical`` / ``network``: the refiner's prior alone / the network's output before the
  song filter (for headroom: ``--per-pair`` writes each pair's SI-SDR change per system).
- ``wiener``: no level step (``--song-filter wiener``).
- ``shipped``: the level step as shipped, floor ``|S|``.
- ``prior``: floor ``min(|S|, |P|)``, ``P`` the stem's classical estimate (the multichannel
  Wiener filter of the mixture over the input stems, the refiner's prior): where the quiet
  content is a louder sibling's bleed, ``P`` gives the stem little of it; where the stem has
  the bin to itself, ``|P| ≈ |S|``.
- ``geo``: floor ``sqrt(|S|·|W|)``, ``W`` the song Wiener filter's output: half-way in dB.
- ``apart d``: floor ``|S|`` where the stem's input is within ``d`` dB of its siblings' summed
  power in the bin (``|S|²·10^(d/10) ≥ Σ_k |S_k|²``), ``min(|S|, |P|)`` where the siblings
  drown it by more (simulated bleed sits a fixed number of dB under the stem it came from).
- ``overlap d``: floor ``|S|`` where the input stems do not over-explain the mixture
  (``Σ_j |S_j|² ≤ |X|²·10^(d/10)``: a separator's masks of the mixture never do),
  ``min(|S|, |P|)`` where they do (some stem there holds another's bleed).

    python experiments/song_energy/quiet_floor.py data/v3_mixed data/bs_train --split valid
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import stemprover.models.refiner as refiner_mod
from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.evaluation.metrics import bleed_and_fullness, level_db, si_sdr
from stemprover.evaluation.run import input_bin, song_audio

sys.path.insert(0, str(Path(__file__).parent))
from energy import parse_args

SYSTEMS = ("wiener", "shipped", "prior", "geo")
METRICS = ("si_sdr", "level", "bleedless", "fullness")
CACHE: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
STATE = {"name": "shipped", "pos": 0}


def song_filter(name: str, s, x, y, gate, priors) -> torch.Tensor:
    if name == "classical":  # the refiner's prior alone, no network
        return priors
    if name == "network":  # the network's output, no song filter
        return y
    w = refiner_mod.song_wiener(y, gate, x)
    if name == "wiener":
        return w
    floor = None
    if name == "prior":
        floor = torch.minimum(s.abs(), priors.abs())
    elif name == "geo":
        floor = torch.sqrt(s.abs() * w.abs())
    elif name.startswith("overlap "):
        ps = s.abs().pow(2)
        over = ps.sum(0) > x.abs().pow(2) * 10 ** (float(name.split()[1]) / 10)
        floor = torch.where(over, torch.minimum(s.abs(), priors.abs()), s.abs())
    elif name.startswith("apart "):
        ps = s.abs().pow(2)
        apart = ps * 10 ** (float(name.split()[1]) / 10) >= ps.sum(0) - ps
        floor = torch.where(apart, s.abs(), torch.minimum(s.abs(), priors.abs()))
    elif name != "shipped":
        raise ValueError(name)
    return refiner_mod.song_level(w, gate, x, s, floor=floor)


def refine_song(self, s, x, _song_filter="level", _stems=None):
    """The network once per segment (cached in order), then this pass's song filter."""
    pos = STATE["pos"]
    if pos == len(CACHE):
        CACHE.append(self.refine_stems(s, x))
    STATE["pos"] += 1
    return song_filter(STATE["name"], s, x, *CACHE[pos])


def main() -> None:
    args = parse_args(SYSTEMS, per_pair=True)
    systems = args.systems
    per_pair = open(args.per_pair, "w") if args.per_pair else None  # noqa: SIM115
    pipe = load_pipeline(EnhanceOptions(args.model, "none"))
    pipe.song_filter = "level"
    refiner_mod.RefinerModel.refine_song = refine_song
    table = defaultdict(lambda: defaultdict(list))
    n = 0
    for folder in args.pairs:
        for recs, mix, rate, arts, refs in song_audio(folder, args.split):
            CACHE.clear()
            outs = {}
            for name in systems:
                STATE.update(name=name, pos=0)
                outs[name] = pipe.enhance_song(arts, rate, mix)
            for j, rec in enumerate(recs):
                ref, art = refs[j], arts[j]
                base = si_sdr(ref, art)
                keys = ("all", input_bin(base), rec["stem"], rec["producer"])
                change = {}
                for name, est in {"input": art, **{k: v[j] for k, v in outs.items()}}.items():
                    bl, fu = bleed_and_fullness(ref, est, rate)
                    vals = (si_sdr(ref, est) - base, level_db(ref, est), bl, fu)
                    change[name] = vals[0]
                    for k in keys:
                        for m, v in zip(METRICS, vals, strict=True):
                            table[k][(name, m)].append(v)
                if per_pair:
                    row = {"id": rec["id"], "input_db": base, "si_sdr_change": change}
                    per_pair.write(json.dumps(row) + "\n")
            n += len(recs)
            print(f"{n} pairs", flush=True, file=sys.stderr)
    names = ("input", *systems)
    print(f"### {' '.join(map(str, args.pairs))} ({args.split}, {n} pairs), {args.model}\n")
    print("per system: SI-SDR change (share losing > 0.5 dB) / level vs the reference (dB) / ")
    print("bleedless / fullness\n")
    print("| group | n | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    for key, row in table.items():
        cells = []
        for s in names:
            d = np.asarray(row[(s, "si_sdr")])
            cells.append(
                f"{d.mean():+.2f} ({np.mean(d < -0.5):.0%}) / {np.mean(row[(s, 'level')]):+.2f}"
                f" / {np.nanmean(row[(s, 'bleedless')]):.1f}"
                f" / {np.nanmean(row[(s, 'fullness')]):.1f}"
            )
        print(f"| {key} | {len(row[('input', 'level')])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
