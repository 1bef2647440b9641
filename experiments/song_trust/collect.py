"""Per-band statistics of a song's three candidates for each stem: the input ``S``, the
refiner's classical prior ``P`` (the multichannel Wiener filter of the mixture over the input
stems) and the shipped song-mode output ``Y``, segment by segment as song mode streams them.

For each segment, stem and sub-band (``audio.bands.split_bands``) it keeps what any blend
``w_S·S + w_P·P + w_Y·Y`` needs to score itself exactly against the reference ``R`` — the
Gram matrix ``G_kl = Re Σ c_k·conj(c_l)``, ``b_k = Re Σ c_k·conj(R)`` and ``Σ|R|²`` — and
reference-free energies a trust model may read (the candidates', the mixture's, the
siblings', what the stems leave out of the mixture, the candidates' differences, the gate).

    python experiments/song_trust/collect.py data/calib_sm --split valid --out stats.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import stemprover.models.refiner as refiner_mod
from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.audio.bands import split_bands
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import song_audio
from stemprover.models.trust import ENERGIES, band_energies, exact_terms

STATE: dict = {"mode": "run", "segments": []}


def refine_song(self, s, x, _song_filter="level", _stems=None):
    """Capture each segment: ``run`` the shipped song mode and keep its parts; ``ref``
    keep the (reference) stems and return them."""
    if STATE["mode"] == "ref":
        STATE["segments"].append(s.clone())
        return s
    out, gate, priors = shipped_song(self, s, x)
    STATE["segments"].append((s, x, priors, out, gate))
    return out


def shipped_song(model, s, x):
    """The shipped song mode (``refine_song`` with the level filter) and the parts it hides:
    ``(output, gate, priors)``."""
    return model.song_parts(s, x, "level")


def segment_stats(s, x, p, y, gate, r, ranges):
    """Gram, cross terms and reference energy of the candidates ``(S, P, Y)`` against the
    reference ``r`` (the library's ``exact_terms``), and :func:`band_energies`, for one
    segment's J stems."""
    return (
        *exact_terms(torch.stack([s, p, y], 1), r, ranges),
        band_energies(s, x, p, y, gate, ranges),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--songs", type=int, default=0, help="at most this many songs (0: all)")
    args = ap.parse_args()
    pipe = load_pipeline(EnhanceOptions(args.model, "none"))
    pipe.song_filter = "level"
    refiner_mod.RefinerModel.refine_song = refine_song
    ranges = split_bands(pipe.model.stft.n_fft, pipe.model.sample_rate)
    rows: dict[str, list] = {k: [] for k in ("gram", "cross", "ref", "energies", "key")}
    meta = []  # one per (song, stem): id, stem, producer, input SI-SDR, shipped SI-SDR
    n = 0
    for folder in args.pairs:
        for recs, mix, rate, arts, refs in song_audio(folder, args.split):
            STATE.update(mode="run", segments=[])
            outs = pipe.enhance_song(arts, rate, mix)
            runs = STATE["segments"]
            STATE.update(mode="ref", segments=[])
            pipe.enhance_song(refs, rate, mix)
            for (s, x, p, y, gate), r in zip(runs, STATE["segments"], strict=True):
                gram, cross, ref, en = segment_stats(s, x, p, y, gate, r, ranges)
                for j in range(len(recs)):
                    for k, v in zip(
                        ("gram", "cross", "ref", "energies"), (gram, cross, ref, en), strict=True
                    ):
                        rows[k].append(v[j].numpy())
                    rows["key"].append(len(meta) + j)
            for j, rec in enumerate(recs):
                base = si_sdr(refs[j], arts[j])
                meta.append(
                    (rec["id"], rec["stem"], rec["producer"], base, si_sdr(refs[j], outs[j]) - base)
                )
            n += 1
            print(f"{n} songs", flush=True, file=sys.stderr)
            if args.songs and n >= args.songs:
                break
    np.savez(
        args.out,
        **{k: np.stack(v) for k, v in rows.items()},
        ids=np.array([m[0] for m in meta]),
        stems=np.array([m[1] for m in meta]),
        producers=np.array([m[2] for m in meta]),
        input_db=np.array([m[3] for m in meta]),
        shipped_change=np.array([m[4] for m in meta]),
        energies_names=np.array(ENERGIES),
    )


if __name__ == "__main__":
    main()
