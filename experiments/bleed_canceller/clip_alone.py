"""The canceller's estimate alone, raw and clipped (session 31): each stem replaced by
``C = S − β·R`` and by ``C`` no louder than the stem in any bin (``trust.cancel_clip``);
SI-SDR, bleedless and fullness of the input, ``C`` and clipped ``C`` (means), over all stems,
the simulated-bleed-alone ones and the mask producer's.

    python experiments/bleed_canceller/clip_alone.py data/calib_sm --songs 14   # ~2 min
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "song_trust"))
from bleed_stages import cli, load_model, valid_songs

from stemprover.evaluation.metrics import bleed_and_fullness, si_sdr
from stemprover.models.trust import cancelled

COLUMNS = ("input", "C", "C clipped")


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    rows, groups = [], []
    for song in valid_songs(model, a.pairs, a.songs):
        s, x = song.s, song.x
        cands = (s, cancelled(s, x)[0], cancelled(s, x, clip=True)[0])
        for j, rec in enumerate(song.recs):
            ref, row = song.refs[j], []
            for z in cands:
                w = song.wave(z[j])
                row += [si_sdr(ref, w), *bleed_and_fullness(ref, w, model.sample_rate)]
            rows.append(row)
            groups.append((set(rec["artifacts"]) == {"bleed"}, rec["producer"] == "mask"))
    a_ = np.array(rows)
    bleed, mask = (np.array(g) for g in zip(*groups, strict=True))
    print(
        "| stems | n | " + " | ".join(f"{c}: SI-SDR / bleedless / fullness" for c in COLUMNS) + " |"
    )
    print("|---|---|" + "---|" * len(COLUMNS))
    for name, m in (("all", np.ones(len(a_), bool)), ("bleed alone", bleed), ("mask", mask)):
        if m.any():
            cells = [" / ".join(f"{v:.2f}" for v in a_[m].mean(0)[i : i + 3]) for i in (0, 3, 6)]
            print(f"| {name} | {m.sum()} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
