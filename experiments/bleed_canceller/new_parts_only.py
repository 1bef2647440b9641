"""Can the refiner use the bleed canceller at all? Fine-tune only its new parts (the three
canceller inputs of each sub-band's projection and the share ``k`` of each head) from the
shipped weights, everything else frozen, at a learning rate 10x the third stage's; otherwise
``stemprover refiner train`` as the recipe's third stage runs it (through the song filter).

    OMP_WAIT_POLICY=PASSIVE python experiments/bleed_canceller/new_parts_only.py runs/ft_new_parts \
        --set train.steps=200 --set train.lr=0.003 --set train.warmup=0 --set train.seed=2 \
        --set train.song_filter=0.5 --set train.validate_every=100

(AdamW's weight decay still shrinks the frozen columns of the tensors it trains by
``lr·0.01`` a step: 0.6% over 200 steps at 3e-3.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from stemprover.cli import main as cli_main
from stemprover.models.refiner import FEATURES, RefinerModel

SHIPPED = Path("src/stemprover/weights/default")
PAIRS = [Path(f"data/{n}") for n in ("v2_fluid", "tcn_train", "v3_mixed", "bs_train")]
_start_from = RefinerModel.start_from


def _new_parts_only(self: RefinerModel, src: RefinerModel, where: Path) -> None:
    _start_from(self, src, where)
    net = self.net
    for p in self.parameters():
        p.requires_grad_(False)
    for k, (lo, hi) in enumerate(net.ranges):
        n = hi - lo
        w = net.proj[k][0].weight
        keep = torch.zeros(w.shape[0], n, net.n_features)
        keep[..., FEATURES:] = 1
        rows = torch.zeros(n, net.n_out)
        rows[:, 3] = 1
        for t, m in (
            (w, keep.flatten(1)),
            (net.heads[k][2].weight, rows.flatten()[:, None]),
            (net.heads[k][2].bias, rows.flatten()),
        ):
            t.requires_grad_(True)
            t.register_hook(lambda g, m=m: g * m)


def main() -> None:
    """``stemprover refiner train`` from the shipped weights with the canceller, the new parts
    alone trained; the arguments after the output folder are its ``--set``s."""
    RefinerModel.start_from = _new_parts_only
    pairs = [a for p in PAIRS for a in ("--pairs", str(p))]
    args = ["refiner", "train", *pairs, "--out", sys.argv[1], "--init", str(SHIPPED)]
    sys.exit(cli_main([*args, "--set", "model.canceller=true", *sys.argv[2:]]))


if __name__ == "__main__":
    main()
