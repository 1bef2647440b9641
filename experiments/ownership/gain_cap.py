"""Level bought with fullness instead of bleedless (session 38): the default's output raised
by a gain **before** its quiet-bin cap (so the cap takes the gain back where the stem is
quiet, where bleedless counts most of its cells), the cap reaching louder bins (``quiet_db``
lower than the shipped 42.5 dB) and under the stem (``cap_db`` < 0), on a pairs folder's valid songs (whole songs, one STFT; the
outputs cached by ``estimated.py``).

    PYTHONPATH=experiments/song_trust:experiments/level_loss:experiments/ownership \
      python experiments/ownership/gain_cap.py data/calib_sm --songs 40

SI-SDR change over the input (share of stems losing > 0.5 dB), level, bleedless, fullness.
"""

from __future__ import annotations

import itertools

import numpy as np
from estimated import cached_outputs, cli
from post_level import scores

from stemprover.models.refiner import QUIET_DB, cap_quiet

METRICS = ("si_sdr", "level", "bleedless", "fullness")
GAINS = (0.0, 0.2, 0.4)
QUIET = (QUIET_DB, 35.0, 30.0)
CAPS = (0.0, -3.0, -6.0)  # dB over the stem (shipped: 0)


def main() -> None:
    rows: dict[str, list] = {"input": []}
    for n, song, t in cached_outputs(cli(__doc__)):
        for j, ref in enumerate(song.refs):
            got = scores(ref, song.wave(song.s[j]), 44100)
            rows["input"].append([got[k] for k in METRICS])
        for g, q, c in itertools.product(GAINS, QUIET, CAPS):
            z = cap_quiet(t * 10 ** (g / 20), song.s, c, q)
            for j, ref in enumerate(song.refs):
                got = scores(ref, song.wave(z[j]), 44100)
                key = f"+{g} dB, cap {c:+g} dB from {q} dB"
                rows.setdefault(key, []).append([got[k] for k in METRICS])
        print(f"song {n + 1} done", flush=True)
    base = np.array(rows["input"])
    print(f"{len(base)} stems")
    print("| system | SI-SDR Δ (losing) | level | bleedless | fullness |")
    print("|---|---|---|---|---|")
    for key, r in rows.items():
        r = np.array(r)
        d = r[:, 0] - base[:, 0]
        m = np.nanmean(r, 0)
        print(
            f"| {key} | {np.nanmean(d):+.2f} ({np.mean(d < -0.5):.0%}) | {m[1]:+.2f} | "
            f"{m[2]:.2f} | {m[3]:.2f} |"
        )


if __name__ == "__main__":
    main()
