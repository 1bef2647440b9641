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
from level_good import report, stats

from stemprover.models.trust import SongTrust
from stemprover.training.trust import TrustTrainConfig, train_blend

RECIPE = ["trust_sm-train", "trust_tcn-train", "trust_bs-train"]
MORE = ["trust_sm2-train", "trust_tcn2-train", "trust_bs2-train"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("runs/trust/cache"))
    ap.add_argument("--trust", default="src/stemprover/weights/default/trust")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    valid = stats(a.cache, ["v3_mixed-valid", "bs_train-valid"])
    sets = {"validation": valid, "calibration": stats(a.cache, ["calib_sm-valid"])}
    cfg = TrustTrainConfig(seed=a.seed)
    layers = {}
    for name, train_sets in [("96 songs (the recipe's)", RECIPE), ("192 songs", RECIPE + MORE)]:
        layer = SongTrust.load(a.trust)  # its quality estimate; both blends retrained here
        train = stats(a.cache, train_sets)
        for which in ("blend", "good"):
            b = train_blend(layer, train, valid, cfg, lambda m: None, which)
            print(f"{name}: {which} step {b['step']}, validation {b['gain']:+.3f}")
        layers[name] = layer
    head = "| system | all | <5 | 5-10 | 10-15 | >=15 | level (median, dB) |"
    for set_name, st in sets.items():
        print(f"\n### {set_name} ({st.n} stems), proxy SI-SDR change (share losing > 0.5 dB)\n")
        print(head + "\n|" + "---|" * 7)
        with torch.no_grad():
            print(report("song filter Y", st.one_hot(2), st))
            for name, layer in layers.items():
                print(report(f"trust, blends on {name}", st.weights(layer), st))


if __name__ == "__main__":
    main()
