"""Can a stem's missing level be predicted from what song mode has (session 38)? Per stem of
a pairs folder's valid songs (the default's outputs cached by ``estimated.py``): features in
dB from the input stem ``s``, the mixture ``x`` and the outputs ``t`` (their energies, the
mixture's energy the outputs leave out given by share), against the target, the reference's
level over the output's. Leave-one-song-out ridge regression; then each stem raised by the
predicted gain (bounded to [0, ``--max-db``], times α; or only what it predicts over θ dB),
before the quiet-bin cap (``refiner.cap_quiet``, as shipped), level and bleedless measured;
and the bound of any such head, each stem raised by its true deficit.

    PYTHONPATH=experiments/song_trust:experiments/level_loss:experiments/ownership \
      python experiments/ownership/level_head.py data/calib_sm
"""

from __future__ import annotations

import numpy as np
from estimated import cached_outputs, cli, power_share
from post_level import scores

from stemprover.models.refiner import cap_quiet
from stemprover.models.trust import stem_type

NAMES = ("t/s", "t/x", "Σt/x", "s/x", "missing/t", "owned(t)", "owned(s)")


def db(a: float, b: float) -> float:
    return 10 * np.log10((a + 1e-12) / (b + 1e-12))


def features(t, s, x, j) -> list[float]:
    e = lambda z: float(z.abs().pow(2).sum())  # noqa: E731
    px = x.abs().pow(2)
    tot = t.abs().pow(2).sum(0)
    share = power_share(t)
    miss = float((share[j] * (px - tot).clamp_min(0)).sum())
    pt = t[j].abs().pow(2)
    ps = s[j].abs().pow(2)
    owned_t = float((pt * (share[j] >= 0.9)).sum()) / max(float(pt.sum()), 1e-20)
    owned_s = float((ps * (power_share(s)[j] >= 0.9)).sum()) / max(float(ps.sum()), 1e-20)
    return [
        db(e(t[j]), e(s[j])),
        db(e(t[j]), e(x)),
        db(float(tot.sum()), e(x)),
        db(e(s[j]), e(x)),
        db(miss, e(t[j])),
        owned_t,
        owned_s,
    ]


def ridge(a: np.ndarray, b: np.ndarray, lam: float = 1.0) -> np.ndarray:
    a1 = np.c_[a, np.ones(len(a))]
    reg = lam * np.eye(a1.shape[1])
    reg[-1, -1] = 0
    return np.linalg.solve(a1.T @ a1 + reg, a1.T @ b)


def main() -> None:
    a = cli(__doc__, ("--max-db", {"type": float, "default": 3.0}))
    feats, target, song_of, data = [], [], [], []
    for n, song, t in cached_outputs(a):
        for j, (rec, ref) in enumerate(zip(song.recs, song.refs, strict=True)):
            out = song.wave(t[j])
            if not np.any(ref):
                continue
            k = np.zeros(5)
            k[stem_type(rec["stem"])] = 1
            feats.append(features(t, song.s, song.x, j) + list(k))
            target.append(db(float(np.sum(ref**2)), float(np.sum(out**2))))
            song_of.append(n)
            data.append((ref, song, t, j))
    f, y, g = np.array(feats), np.array(target), np.array(song_of)
    print(
        f"{len(y)} stems, {g.max() + 1} songs; target (ref/out, dB) mean {y.mean():+.2f} sd {y.std():.2f}"
    )
    for i, name in enumerate(NAMES):
        print(f"  corr({name}, target) = {np.corrcoef(f[:, i], y)[0, 1]:+.2f}")
    mu, sd = f.mean(0), f.std(0) + 1e-9
    z = (f - mu) / sd
    pred = np.zeros_like(y)
    for song in np.unique(g):
        w = ridge(z[g != song], y[g != song])
        pred[g == song] = np.c_[z[g == song], np.ones((g == song).sum())] @ w
    r2 = 1 - np.mean((y - pred) ** 2) / np.var(y)
    print(f"leave-one-song-out R² {r2:.2f}, error sd {np.std(y - pred):.2f} dB")
    print("| gain | SI-SDR | level | bleedless | fullness |")
    print("|---|---|---|---|---|")
    clip = lambda v: np.clip(v, 0, a.max_db)  # noqa: E731
    rules = {
        "none": np.zeros_like(pred),
        "flat +0.2 dB": np.full_like(pred, 0.2),
        "α = 0.25": 0.25 * clip(pred),
        "α = 0.5": 0.5 * clip(pred),
        "over θ = 1 dB": clip(pred - 1),
        "over θ = 0.5 dB": clip(pred - 0.5),
        # the bound of any level head: each stem's true deficit
        "true deficit, α = 0.25": 0.25 * clip(y),
        "true deficit, α = 0.5": 0.5 * clip(y),
        "true deficit": clip(y),
    }
    for name, gains in rules.items():
        got = []
        for (ref, song, t, j), gdb in zip(data, gains, strict=True):
            z = cap_quiet(t[j] * 10 ** (gdb / 20), song.s[j])
            got.append(scores(ref, song.wave(z), 44100))
        m = [np.nanmean([r[k] for r in got]) for k in ("si_sdr", "level", "bleedless", "fullness")]
        print(f"| {name} | {m[0]:.2f} | {m[1]:+.2f} | {m[2]:.2f} | {m[3]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
