"""The trust layer of ``fit.py --save`` applied in song mode and scored in time: after the
shipped song filter, each segment's stems get the per-band blend of input, classical prior and
shipped output the layer chooses (stems whose quality estimate is ``--trust-below`` dB or more
keep the shipped output); SI-SDR change per pair against the shipped output's, by input bin.

The quality estimate is read per pair from ``quality.py train --predict`` (computed on the
whole song, not the segment: an experiment's shortcut).

    python experiments/song_trust/apply.py data/calib_sm --split valid \
        --trust /tmp/trust/trust_below8.pt --quality-pred /tmp/trust/qpred3.npz
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import stemprover.models.refiner as refiner_mod
from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.audio.bands import split_bands
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import input_bin, song_audio

sys.path.insert(0, str(Path(__file__).parent))
from collect import band_energies, shipped_song
from fit import STEMS, Trust, band_features

STATE: dict = {"mode": "trust", "stems": [], "quality": None}


def refine_song(self, s, x, _song_filter="level", _stems=None):
    out, gate, priors = shipped_song(self, s, x)
    if STATE["mode"] == "shipped":
        return out
    ranges = STATE["ranges"]
    en = band_energies(s, x, priors, out, gate, ranges)
    own, sib_mean, sib_max, stem, band = band_features(
        en, STATE["stems"], torch.zeros(len(s), dtype=torch.long)
    )
    q = STATE["quality"]  # (J,) dB / 20
    f = torch.cat(
        [own, sib_mean, sib_max, stem, band, q[:, None, None].expand(len(s), own.shape[1], 1)], -1
    )
    with torch.no_grad():
        w = STATE["model"](f.float())  # (J, B, 3)
    w[q * 20 >= STATE["below"]] = torch.tensor([0.0, 0.0, 1.0])
    cand = torch.stack([s, priors, out], 1)  # (J, 3, C, F, N)
    res = out.clone()
    for b, (lo, hi) in enumerate(ranges):
        res[..., lo:hi, :] = (
            w[:, b, :, None, None, None].to(cand.dtype) * cand[..., lo:hi, :]
        ).sum(1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--trust", required=True)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--quality-pred", required=True)
    ap.add_argument("--trust-below", type=float, default=8.0)
    args = ap.parse_args()
    pipe = load_pipeline(EnhanceOptions("default", "none"))
    pipe.song_filter = "level"
    refiner_mod.RefinerModel.refine_song = refine_song
    ranges = split_bands(pipe.model.stft.n_fft, pipe.model.sample_rate)
    state = torch.load(args.trust)
    model = Trust(state["net.0.weight"].shape[1], args.hidden)
    model.load_state_dict(state)
    d = np.load(args.quality_pred)
    pred = dict(zip(map(str, d["ids"]), d["sev"][:, 0], strict=True))
    STATE.update(model=model.eval(), ranges=ranges, below=args.trust_below)
    table = defaultdict(lambda: defaultdict(list))
    n = 0
    for folder in args.pairs:
        for recs, mix, rate, arts, refs in song_audio(folder, args.split):
            STATE.update(
                stems=[STEMS.index(r["stem"]) for r in recs],
                quality=torch.tensor([float(pred[r["id"]]) for r in recs]),
            )
            outs = {}
            for mode in ("shipped", "trust"):
                STATE["mode"] = mode
                outs[mode] = pipe.enhance_song(arts, rate, mix)
            for j in range(len(recs)):
                base = si_sdr(refs[j], arts[j])
                for key in ("all", input_bin(base)):
                    for mode, est in outs.items():
                        table[key][mode].append(si_sdr(refs[j], est[j]) - base)
            n += len(recs)
            print(f"{n} pairs", file=sys.stderr, flush=True)
    print(
        f"### {' '.join(map(str, args.pairs))} ({args.split}, {n} pairs), time-domain SI-SDR change\n"
    )
    print("| group | n | shipped | trust |\n|---|---|---|---|")
    for key, row in table.items():
        cells = [
            f"{np.mean(row[m]):+.2f} ({np.mean(np.array(row[m]) < -0.5):.0%})"
            for m in ("shipped", "trust")
        ]
        print(f"| {key} | {len(row['shipped'])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
