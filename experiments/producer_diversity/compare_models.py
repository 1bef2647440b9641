"""Refiner models side by side on the same pairs: whole files, song mode (each pair's mixture
and its song's other stems, as ``stemprover enhance SONG_FOLDER`` runs it), SI-SDR change over
the input per pair, grouped by folder, producer, input bin and stem.

    python experiments/producer_diversity/compare_models.py --split valid \
        --model old=/tmp/default_c831525 --model new=runs/refiner-v3/model \
        data/v2_fluid data/tcn_train data/v3_mixed

Used to choose between models on validation pairs; the same script on ``--split test`` folders
reports them on held-out pairs. ``--song-filter``: each song's stems enhanced together with the
song filter (``RefinerModel.enhance_song``), as song mode runs since 4cecbf5.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio.stft import istft, stft
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import gain_table, input_bin, song_pairs
from stemprover.models.base import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--json", type=Path, help="per-pair rows")
    ap.add_argument(
        "--song-filter",
        action="store_true",
        help="each song's stems together with the song filter, as song mode runs them now",
    )
    args = ap.parse_args()
    models = {}
    for item in args.model:
        name, _, folder = item.partition("=")
        models[name] = load_model(folder, adapters="none")
    rows = []
    total = defaultdict(lambda: defaultdict(list))
    songs: dict[tuple, list] = {}
    for folder in args.pairs:
        table, first = defaultdict(lambda: defaultdict(list)), len(rows)
        for rec, clean, art, mix, sibs in song_pairs(folder, args.split):
            art_t, mix_t = torch.from_numpy(art).float(), torch.from_numpy(mix).float()
            before = si_sdr(clean, art)
            row = {"folder": str(folder), "id": rec["id"], "input": before}
            if not any(k[:2] == (folder, rec["song"]) for k in songs):
                songs.clear()  # a new song: the last one's stems are done
            for name, m in models.items():
                cfg = m.config.stft
                s, x = stft(art_t, cfg), stft(mix_t, cfg)
                siblings = stft(torch.from_numpy(np.stack(sibs)).float(), cfg) if sibs else None
                if args.song_filter and sibs:
                    song = songs.setdefault((folder, rec["song"], name), [])
                    if not song:  # the song's stems once, kept by their input
                        out = m.enhance_song(torch.cat([s[None], siblings]), x)
                        song += zip([art, *sibs], out, strict=True)
                    spec = next(o for a, o in song if np.array_equal(a, art))
                else:
                    spec = m.enhance(s, x, siblings=siblings)
                y = istft(spec, cfg, art.shape[-1])
                gain = si_sdr(clean, y.double().numpy()) - before
                row[name] = gain
                for key in ("all", input_bin(before), rec["stem"], f"producer:{rec['producer']}"):
                    table[key][name].append(gain)
                    total[key][name].append(gain)
            rows.append(row)
        _print(f"{folder} ({args.split}, {len(rows) - first} pairs)", table, list(models))
    if len(args.pairs) > 1:
        _print(f"all folders ({args.split}, {len(rows)} pairs)", total, list(models))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


def _print(title: str, table, names: list[str]) -> None:
    print(f"\n### {title}\n")
    print("Mean SI-SDR change in dB (share of pairs losing more than 0.5 dB)\n")
    print(gain_table(table, names))


if __name__ == "__main__":
    main()
