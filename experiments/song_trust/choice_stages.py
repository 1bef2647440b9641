"""Where a stem's trust-layer output stands against its candidates (session 32): per stem of a
pairs folder's valid songs (whole songs, one STFT, as ``post_level.py``), the SI-SDR change
over the input of the prior ``P`` (= ``wiener-mc``), the level step's ``Y``, the canceller's
``C``, the raw blend, the blend after ``keep_quiet`` and after the quiet cap (shipped), with
the layer's quality estimate and its mean blend weights, by producer and stem type.

    PYTHONPATH=experiments/song_trust python experiments/song_trust/choice_stages.py \
        data/calib_sm   # ~8 min on 2 cores

(rows to ``--rows``; default /tmp/<folder>_choice_stages.json, so give each layer compared its own.)
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from bleed_stages import load_model, valid_songs

from stemprover.evaluation.metrics import si_sdr
from stemprover.models.refiner import cap_quiet, keep_quiet
from stemprover.models.trust import blend, match_level, stem_type

STAGES = ("P", "Y", "C", "blend", "kept", "capped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--model", default="src/stemprover/weights/default")
    ap.add_argument("--rows", type=Path, help="where the per-stem rows go (JSON)")
    a = ap.parse_args()
    model = load_model(a.model)
    layer = model.trust
    rows = []
    for song in valid_songs(model, a.pairs):
        names = [r["stem"] for r in song.recs]
        kinds = torch.tensor([stem_type(n) for n in names])
        s, x = song.s, song.x
        with torch.no_grad():
            y, gate, p = model.song_parts(s, x, "trust")
            cands, rho = layer.candidates(s, x, p, y)
            quality = layer.estimate(s, x, p, kinds)
            w = layer._weights(cands, rho, x, gate, kinds, quality)
            cfg = layer.config  # the layer's forward, its weights kept for the table:
            raw = match_level(blend(w, cands, layer.ranges), y, cfg.level, cfg.level_max)
            kept = keep_quiet(raw, s)
            capped = kept if cfg.quiet_cap is None else cap_quiet(kept, s, cfg.quiet_cap)
        outs = {"P": p, "Y": y, "C": cands[:, 3], "blend": raw, "kept": kept, "capped": capped}
        for j, rec in enumerate(song.recs):
            ref = song.refs[j]
            base = si_sdr(ref, song.wave(s[j]))
            row = {"stem": rec["stem"], "producer": rec["producer"], "input": base}
            row.update({k: si_sdr(ref, song.wave(v[j])) - base for k, v in outs.items()})
            row["quality"] = float(quality[j])
            row["weights"] = w[j].mean(0).tolist()  # S, P, Y, C over the bands
            rows.append(row)
        print(len(rows), flush=True)
    (a.rows or Path(f"/tmp/{a.pairs.name}_choice_stages.json")).write_text(json.dumps(rows))
    groups = defaultdict(list)
    for r in rows:
        groups["all"].append(r)
        groups[f"{r['producer']}:{r['stem']}"].append(r)
    print("| group | n | input | " + " | ".join(STAGES) + " | quality est. | w S / P / Y / C |")
    print("|---|---|---|" + "---|" * (len(STAGES) + 2))
    for key, g in sorted(groups.items()):
        cells = " | ".join(f"{np.mean([r[k] for r in g]):+.2f}" for k in STAGES)
        w = np.mean([r["weights"] for r in g], axis=0)
        print(
            f"| {key} | {len(g)} | {np.mean([r['input'] for r in g]):.2f} | {cells} | "
            f"{np.mean([r['quality'] for r in g]):.1f} | {' / '.join(f'{v:.2f}' for v in w)} |"
        )


if __name__ == "__main__":
    main()
