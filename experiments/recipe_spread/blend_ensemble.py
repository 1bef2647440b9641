"""Calibration of a trust layer whose band weights are the mean of several blend fits
(the same statistics, other seeds: ``experiments/song_trust/refit.py --set train.seed=N``): does
averaging the blends narrow the per-stem spread? Runs ``choice_stages.py`` with the model's
layer's ``band_weights`` replaced by the mean over ``--layers``.

    PYTHONPATH=experiments/song_trust python experiments/recipe_spread/blend_ensemble.py \\
        data/calib_sm --model runs/wE2E --rows logs/cs_ens.json --layers /tmp/rf1 /tmp/rf2
"""

from __future__ import annotations

import sys

import choice_stages
import torch

from stemprover.models.trust import SongTrust


def main() -> None:
    i = sys.argv.index("--layers")
    folders, sys.argv = sys.argv[i + 1 :], sys.argv[:i]
    extra = [SongTrust.load(f) for f in folders]
    own = SongTrust.band_weights

    def mean_weights(self, f, quality):
        ws = [own(self, f, quality)] + [own(layer, f, quality) for layer in extra]
        return torch.stack(ws).mean(0)

    SongTrust.band_weights = mean_weights
    choice_stages.main()


if __name__ == "__main__":
    main()
