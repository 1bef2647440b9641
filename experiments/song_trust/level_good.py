"""Two follow-ups of the shipped trust layer, in the exact blend proxy (session 26):

1. **Its level.** The blend of ``S``, ``P`` and ``Y`` is quieter than ``Y`` (the prior is a
   shrunk Wiener estimate, and partly incoherent candidates add to less than their weights'
   energy). Matching each blended band (``band``) or stem segment (``stem``) to ``Y``'s energy
   is a per-band gain on the weights, so its SI-SDR and level follow exactly.
2. **Good stems.** Stems estimated at ``below`` dB or more keep ``Y``, though ``Y`` can be
   worse than the input there (a 12.6 dB calibration bass with bleed: ``S`` 12.56, ``Y``
   8.43). A second blend network over ``(S, P, Y)`` for those stems only, with the same loss
   (gain + ``harm`` × loss below ``Y``), the first network fixed.

    python experiments/song_trust/level_good.py --cache runs/trust/cache \
        --trust src/stemprover/weights/default/trust

Training rows: the trust songs' blend statistics (``trust_sm``, ``trust_tcn``, ``trust_bs``
train); validation: ``v3_mixed`` + ``bs_train`` valid; calibration when its statistics are
in the cache (``blend-calib_sm-valid*.npz``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from stemprover.models.trust import BlendNet, SongTrust
from stemprover.training.trust import BlendStats

BINS = [("<5", -99, 5), ("5-10", 5, 10), ("10-15", 10, 15), (">=15", 15, 999)]


def stats(cache: Path, names: list[str]) -> BlendStats | None:
    """The cached statistics of ``<folder>-<split>`` names, as the library names them
    (``blend-<folder>-<path hash>-<split>.npz``) or as it did in session 25 (no hash)."""
    parts = [n.rsplit("-", 1) for n in names]
    paths = [next(iter(sorted(cache.glob(f"blend-{f}-*{s}.npz"))), None) for f, s in parts]
    return BlendStats([p for p in paths if p]) if all(paths) else None


def matched(w: torch.Tensor, st: BlendStats, level: str, max_db: float = 6.0) -> torch.Tensor:
    if level == "none":
        return w
    w = w.double()
    e = torch.einsum("rbk,rbkl,rbl->rb", w, st.gram, w)
    ey = st.gram[..., 2, 2]
    if level == "stem":
        e, ey = e.sum(-1, keepdim=True), ey.sum(-1, keepdim=True)
    g = torch.sqrt((ey + 1e-10) / (e + 1e-10)).clamp(10 ** (-max_db / 20), 10 ** (max_db / 20))
    return w * g[..., None]


def level_db(w: torch.Tensor, st: BlendStats) -> np.ndarray:
    e = torch.einsum("rbk,rbkl,rbl->rb", w.double(), st.gram, w.double()).sum(-1)
    add = lambda v: torch.zeros(st.n, dtype=v.dtype).index_add(0, st.key, v)  # noqa: E731
    return (10 * torch.log10(add(e) / add(st.ref.sum(-1)))).numpy()


VALID = ["v3_mixed-valid", "bs_train-valid"]
CALIB = ["calib_sm-valid"]
HEAD = "| system | all | <5 | 5-10 | 10-15 | >=15 | level (median, dB) |\n|" + "---|" * 7


def report(name: str, w: torch.Tensor, st: BlendStats) -> str:
    gain = (st.score(w) - st.score(st.one_hot(0))).detach().numpy()
    cells = [f"{gain.mean():+.2f} ({(gain < -0.5).mean():.0%})"]
    for _, lo, hi in BINS:
        m = (st.input_db >= lo) & (st.input_db < hi)
        cells.append(f"{gain[m].mean():+.2f} ({(gain[m] < -0.5).mean():.0%})" if m.any() else "")
    cells.append(f"{np.median(level_db(w.detach(), st)):+.2f}")
    return f"| {name} | " + " | ".join(cells) + " |"


def train_good(trust, train, valid, below, steps, harm, lr, seed, log):
    """A blend network for the stems estimated at ``below`` dB or more, chosen on ``valid``."""
    torch.manual_seed(seed)
    net = BlendNet(train.feats.shape[-1], trust.config.hidden)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)

    def weights(st, n=net):
        with torch.no_grad():
            w1 = trust.blend(st.feats)
        return torch.where((st.quality >= below)[:, None, None], n(st.feats), w1)

    base, ship = train.score(train.one_hot(0)), train.score(train.one_hot(2))
    good = torch.zeros(train.n, dtype=torch.bool).index_fill(
        0, train.key[train.quality >= below], True
    )
    vbase = valid.score(valid.one_hot(0))
    best, state = (-float("inf"), -1), None
    for step in range(steps + 1):
        if step % 50 == 0:
            with torch.no_grad():
                g = (valid.score(weights(valid)) - vbase).mean().item()
            if g > best[0]:
                best, state = (g, step), {k: v.clone() for k, v in net.state_dict().items()}
        if step == steps:
            break
        sdr = train.score(weights(train))
        loss = (
            -(sdr - base)[good].clamp(max=30).mean() + harm * (ship - sdr)[good].clamp_min(0).mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.load_state_dict(state)
    log(f"good-stem blend: best validation {best[0]:+.3f} dB at step {best[1]}")
    return lambda st: weights(st, net)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("runs/trust/cache"))
    ap.add_argument("--trust", default="src/stemprover/weights/default/trust")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--harm", type=float, default=5.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    trust = SongTrust.load(a.trust)
    trust.good = None  # its first blend only (a layer trained since has its own good-stem one)
    below = trust.config.below
    train = stats(a.cache, ["trust_sm-train", "trust_tcn-train", "trust_bs-train"])
    sets = {"validation": stats(a.cache, VALID)}
    calib = stats(a.cache, CALIB)
    if calib is not None:
        sets["calibration"] = calib
    good = train_good(trust, train, sets["validation"], below, a.steps, a.harm, a.lr, a.seed, print)
    for name, st in sets.items():
        print(
            f"\n### {name} ({st.n} stems), proxy SI-SDR change over the input (share losing > 0.5 dB)\n"
        )
        print(HEAD)
        with torch.no_grad():
            shipped = st.weights(trust)
            for k, w in [
                ("input S", st.one_hot(0)),
                ("prior P", st.one_hot(1)),
                ("song filter Y", st.one_hot(2)),
            ]:
                print(report(k, w, st))
            for lv in ("none", "band", "stem"):
                print(report(f"trust, level {lv}", matched(shipped, st, lv), st))
            for lv in ("none", "band", "stem"):
                print(report(f"trust + good-stem blend, level {lv}", matched(good(st), st, lv), st))


if __name__ == "__main__":
    main()
