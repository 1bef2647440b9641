"""Is the trust layer's blend data-limited? Both blend networks retrained by the library's
``train_blend`` on the recipe's 96 trust songs and on those plus 96 more (session 26), in
the exact proxy on validation and calibration stems.

    python experiments/song_trust/more_songs.py --cache runs/trust/cache \
        --trust src/stemprover/weights/default/trust

The extra songs (seeds 73000-75000, the recipe's step-6 commands with new seeds) and their
statistics: ``collect_blend(data/<set>, "train", "default", runs/trust, ...)`` into the cache.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from level_good import CALIB, HEAD, VALID, report, stats

from stemprover.models.trust import BlendNet, SongTrust
from stemprover.training.trust import BlendStats, TrustTrainConfig, train_blend

RECIPE = ["trust_sm-train", "trust_tcn-train", "trust_bs-train"]
MORE = ["trust_sm2-train", "trust_tcn2-train", "trust_bs2-train"]


def cli(doc: str) -> argparse.Namespace:
    """The proxy experiments' options: ``--cache``, ``--trust``, ``--seed``."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("runs/trust/cache"))
    ap.add_argument("--trust", default="src/stemprover/weights/default/trust")
    ap.add_argument("--seed", type=int, default=0)
    torch.set_num_threads(1)
    return ap.parse_args()


def retrain(trust: str, train: BlendStats, valid: BlendStats, seed: int, tag: str) -> SongTrust:
    """The layer in ``trust`` (its quality estimate) with both blend networks retrained on
    ``train`` by the library's ``train_blend`` (networks as wide as ``train``'s features),
    each step chosen on ``valid``."""
    layer = SongTrust.load(trust)
    dim = train.feats.shape[-1]
    layer.blend, layer.good = BlendNet(dim, layer.config.hidden), BlendNet(dim, layer.config.hidden)
    for which in ("blend", "good"):
        b = train_blend(layer, train, valid, TrustTrainConfig(seed=seed), lambda m: None, which)
        print(f"{tag}: {which} step {b['step']}, validation {b['gain']:+.3f}")
    return layer


def widened(a: argparse.Namespace, widen, tags: tuple[str, str]) -> None:
    """Both blend networks retrained on the recipe's songs without and with the features
    ``widen(stats, names)`` appends (``tags``: the two rows' names), printed per selection
    set in the exact proxy."""
    names = {"validation": VALID, "calibration": CALIB}
    results = {}
    for tag, wide in zip(tags, (False, True), strict=True):

        def load(n, wide=wide):
            st = stats(a.cache, n)
            return widen(st, n) if wide else st

        sets = {k: load(v) for k, v in names.items()}
        layer = retrain(a.trust, load(RECIPE), sets["validation"], a.seed, tag)
        with torch.no_grad():
            results[tag] = {k: report(tag, st.weights(layer), st) for k, st in sets.items()}
    for k in names:
        print(f"\n### {k}, proxy SI-SDR change over the input (share losing > 0.5 dB)\n")
        print(HEAD)
        for rows in results.values():
            print(rows[k])


def main() -> None:
    a = cli(__doc__)
    valid = stats(a.cache, VALID)
    sets = {"validation": valid, "calibration": stats(a.cache, CALIB)}
    layers = {
        name: retrain(a.trust, stats(a.cache, train_sets), valid, a.seed, name)
        for name, train_sets in [("96 songs (the recipe's)", RECIPE), ("192 songs", RECIPE + MORE)]
    }
    for set_name, st in sets.items():
        print(f"\n### {set_name} ({st.n} stems), proxy SI-SDR change (share losing > 0.5 dB)\n")
        print(HEAD)
        with torch.no_grad():
            print(report("song filter Y", st.one_hot(2), st))
            for name, layer in layers.items():
                print(report(f"trust, blends on {name}", st.weights(layer), st))


if __name__ == "__main__":
    main()
