"""Refit a trained trust layer's blends from its run folder's statistics (``cache/``, no
song is read again) with other ``stemprover trust train`` settings, into a new model folder:
what ``trust train`` does at its last stage, in seconds, for an A/B of a blend setting.

    python experiments/song_trust/refit.py runs/e2e-trust runs/wX/trust --set train.select=objective

The folder written is a trust layer (``config.json`` + ``model.safetensors`` + ``best.json``);
put it as ``trust/`` beside a copy of the refiner it was collected on to score it
(``choice_stages.py --model``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stemprover.config import apply_overrides
from stemprover.training.trust import (
    BlendStats,
    TrustTrainConfig,
    _trust_with_quality,
    check_settings,
    train_blend,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a trust train run folder")
    ap.add_argument("out", type=Path, help="the refitted layer's folder")
    ap.add_argument("--set", action="append", default=[], help="train.KEY=VALUE, as trust train")
    a = ap.parse_args()
    meta = json.loads((a.run / "trust.json").read_text())
    cfg = apply_overrides({"train": TrustTrainConfig(**meta["train"])}, a.set)["train"]
    check_settings(cfg)
    trust = _trust_with_quality(a.run)
    cache = sorted((a.run / "cache").glob("blend-*"))
    train = BlendStats([p for p in cache if p.stem.endswith("-train")])
    valid = BlendStats([p for p in cache if p.stem.endswith("-valid")])
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    best = {w: train_blend(trust, train, valid, cfg, log, w) for w in ("blend", "good")}
    trust.save(a.out)
    (a.out / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    print(json.dumps(best))


if __name__ == "__main__":
    main()
