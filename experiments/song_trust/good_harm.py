"""How hard should the good-stem blend avoid harm? (session 27)

The commonest losers on every set are good stems with bleed that the good-stem blend keeps
at ``Y`` (calibration: vocals at 20.1 / 16.2 dB input, estimated 18.4 / 15.5, -0.94 / -0.72 dB).
Here the second blend network (``good``) is retrained in the exact proxy with a larger
no-harm weight (``TrustTrainConfig.harm``: the mean dB below the song filter's output, 5 in
the shipped layer), the first blend kept as shipped.

    python experiments/song_trust/good_harm.py --cache runs/trust/cache \
        --trust src/stemprover/weights/default/trust
"""

from __future__ import annotations

import torch
from level_good import CALIB, HEAD, VALID, report, stats
from more_songs import RECIPE, cli

from stemprover.models.trust import BlendNet, SongTrust
from stemprover.training.trust import TrustTrainConfig, train_blend

HARMS = (5.0, 10.0, 20.0, 40.0)


def main() -> None:
    a = cli(__doc__)
    train, valid = stats(a.cache, RECIPE), stats(a.cache, VALID)
    sets = {"validation": valid, "calibration": stats(a.cache, CALIB)}
    rows = {k: [] for k in sets}
    for harm in HARMS:
        layer = SongTrust.load(a.trust)
        layer.good = BlendNet(train.feats.shape[-1], layer.config.hidden)
        cfg = TrustTrainConfig(seed=a.seed, harm=harm)
        b = train_blend(layer, train, valid, cfg, lambda m: None, "good")
        print(f"harm {harm:g}: good step {b['step']}, validation {b['gain']:+.3f}")
        with torch.no_grad():
            for k, st in sets.items():
                rows[k].append(report(f"good blend, harm {harm:g}", st.weights(layer), st))
    for k, st in sets.items():
        print(f"\n### {k} ({st.n} stems), proxy SI-SDR change (share losing > 0.5 dB)\n")
        print(HEAD)
        with torch.no_grad():
            print(report("song filter Y", st.one_hot(2), st))
        print("\n".join(rows[k]))


if __name__ == "__main__":
    main()
