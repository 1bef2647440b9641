"""Average the weights of refiner runs that share a starting point (a "model soup",
Wortsman et al. 2022): the song stage trained from the same first stage with other seeds.

    python experiments/recipe_spread/soup.py runs/soup runs/x13/model runs/x13s2/model

The folders must hold the same architecture (their config.json equal but for nothing that
changes the weights' shapes); the first one's config is kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stemprover.models.refiner import RefinerModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("models", type=Path, nargs="+")
    a = ap.parse_args()
    models = [RefinerModel.load(m) for m in a.models]
    states = [m.state_dict() for m in models]
    soup = {
        k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v
        for k, v in states[0].items()
    }
    models[0].load_state_dict(soup)
    models[0].save(a.out)
    print(f"{len(models)} models averaged -> {a.out}")


if __name__ == "__main__":
    main()
