"""A second pass (session 38): the default's song-mode outputs through song mode again, as if
they were the separator's stems, so that each stem is refined beside cleaner siblings. On a
pairs folder's valid songs (whole songs, one STFT; the first pass cached by ``estimated.py``).

    PYTHONPATH=experiments/song_trust:experiments/level_loss:experiments/ownership \
      python experiments/ownership/second_pass.py data/calib_sm

Rows: the first pass; the second with the song filter ``trust`` and ``level``; and the second
pass up to its level step with the trust layer on the **input** stems (its candidate ``S``,
its quality estimate and the quiet bins the input's, as in training; the prior and ``Y`` the
second pass's). SI-SDR change
over the input (stems losing > 0.5 dB) per input bin, level, bleedless, fullness.
"""

from __future__ import annotations

import torch
from bleed_stages import load_model
from estimated import cached_outputs, cli
from post_level import bin_table, scores

from stemprover.models.refiner import cap_quiet

METRICS = ("si_sdr", "level", "bleedless", "fullness")
GAINS = (0.1, 0.2, 0.3)


def main() -> None:
    a = cli(__doc__)
    model = load_model(a.model)
    rows: dict[str, list] = {}
    for _n, song, t in cached_outputs(a):
        names = [r["stem"] for r in song.recs]
        with torch.no_grad():
            systems = {"input": song.s, "first pass": t}
            y, gate, priors = model.song_parts(t, song.x, "trust")
            systems["second pass, trust on the input"] = model.song_trust(
                song.s, song.x, y, gate, priors, names
            )
            # the second pass on the first's level-step output (no trust layer between): the
            # form a trust layer can be trained on (its collection runs song_parts, no layer);
            # what ``model.passes=2`` runs
            level, _, _ = model.song_parts(song.s, song.x, "level")
            y2, gate2, priors2 = model.song_parts(level, song.x, "level")
            systems["passes=2"] = model.song_trust(song.s, song.x, y2, gate2, priors2, names)
            # a gain before the quiet cap (the cap takes it back in the stem's quiet bins)
            for key, gains in (
                ("first pass", (0.2,)),
                ("passes=2", GAINS),
                ("second pass, trust on the input", GAINS),
            ):
                for g in gains:
                    z = cap_quiet(systems[key] * 10 ** (g / 20), song.s)
                    systems[f"{key}, +{g} dB before the cap"] = z
        for key, z in systems.items():
            for j, ref in enumerate(song.refs):
                got = scores(ref, song.wave(z[j]), 44100)
                rows.setdefault(key, []).append([got[k] for k in METRICS])
        print(f"song {_n + 1} done", flush=True)
    bin_table(rows)


if __name__ == "__main__":
    main()
