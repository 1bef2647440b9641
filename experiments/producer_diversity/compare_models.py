"""Refiner models side by side on the same pairs: whole files, song mode (each pair's mixture
and its song's other stems, as ``stemprover enhance SONG_FOLDER`` runs it), SI-SDR change over
the input per pair, grouped by folder, producer, input bin and stem.

    python experiments/producer_diversity/compare_models.py --split valid \
        --model old=/tmp/default_c831525 --model new=runs/refiner-v3/model \
        data/v2_fluid data/tcn_train data/v3_mixed

Used to choose between models on validation pairs; the same script on ``--split test`` folders
reports them on held-out pairs.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from stemprover.audio import io
from stemprover.audio.stft import istft, stft
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.run import input_bin
from stemprover.models.base import load_model

ORDER = ["all", "<5 dB", "5-10 dB", "10-15 dB", ">=15 dB", "vocals", "drums", "bass", "other"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path, nargs="+")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--json", type=Path, help="per-pair rows")
    args = ap.parse_args()
    models = {}
    for item in args.model:
        name, _, folder = item.partition("=")
        models[name] = load_model(folder, adapters="none")
    rows = []
    total = defaultdict(lambda: defaultdict(list))
    for folder in args.pairs:
        records = [r for r in read_manifest(folder) if r["split"] == args.split]
        by_song = defaultdict(list)
        for r in records:
            by_song[r["song"]].append(r)
        table = defaultdict(lambda: defaultdict(list))
        for rec in records:

            def read(rel, folder=folder):
                return torch.from_numpy(io.read(folder / rel, "float32")[0])

            clean, art, mix = read(rec["clean"]), read(rec["artifacted"]), read(rec["mixture"])
            sibs = [read(o["artifacted"]) for o in by_song[rec["song"]] if o["id"] != rec["id"]]
            ref = clean.double().numpy()
            before = si_sdr(ref, art.double().numpy())
            row = {"folder": str(folder), "id": rec["id"], "input": before}
            for name, m in models.items():
                cfg = m.config.stft
                s, x = stft(art, cfg), stft(mix, cfg)
                siblings = stft(torch.stack(sibs), cfg) if sibs else None
                y = istft(m.enhance(s, x, siblings=siblings), cfg, art.shape[-1])
                gain = si_sdr(ref, y.double().numpy()) - before
                row[name] = gain
                for key in ("all", input_bin(before), rec["stem"], f"producer:{rec['producer']}"):
                    table[key][name].append(gain)
                    total[key][name].append(gain)
            rows.append(row)
        _print(f"{folder} ({args.split}, {len(records)} pairs)", table, list(models))
    if len(args.pairs) > 1:
        _print(f"all folders ({args.split}, {len(rows)} pairs)", total, list(models))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


def _print(title: str, table, names: list[str]) -> None:
    print(f"\n### {title}\n")
    print("Mean SI-SDR change in dB (share of pairs losing more than 0.5 dB)\n")
    print("| group | n | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    keys = [k for k in ORDER if k in table] + sorted(k for k in table if k.startswith("producer:"))
    for key in keys:
        row = table[key]
        cells = [f"{np.mean(row[n]):+.2f} ({np.mean(np.array(row[n]) < -0.5):.0%})" for n in names]
        print(f"| {key} | {len(row[names[0]])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
