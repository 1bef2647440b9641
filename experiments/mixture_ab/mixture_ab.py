"""Stem only vs stem + mixture, through the product's own training and evaluation paths.

Two runs of `stemprover train` that differ only in `model.denoiser.mixture`, then each
scored on the held-out pairs with their mixtures (as `enhance --mix`) and, for the mixture
model, without them (as `enhance` alone). Writes bench/results/<name>.{md,json}: validation
SI-SDR during training (from each run's log.jsonl) and the held-out SI-SDR change over the
input per group, with the standard error over pairs.

    stemprover train --pairs data/bleed_pairs --out runs/stemprobe_loop --config base \\
        --set train.identity_pairs=0 --set train.steps=700 --set train.validate_every=50 \\
        --set train.valid_pairs=8
    # the same plus: --set model.denoiser.mixture=true --set train.mixture_dropout=0
    python experiments/mixture_ab/mixture_ab.py runs/stemprobe_loop runs/mixprobe_loop --name mixture_ab_bleed
"""

import argparse
import json
from pathlib import Path

import numpy as np

from stemprover.evaluation.results import markdown_table, provenance, save_results
from stemprover.evaluation.run import EvalConfig, evaluate
from stemprover.models.base import load_model
from stemprover.pipeline import EnhancePipeline


def trajectory(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["valid_si_sdr_model"] for r in rows if "valid_si_sdr_model" in r} | {
        0: next(r["valid_si_sdr_input"] for r in rows if "valid_si_sdr_input" in r)
    }


def per_pair(metrics: Path, system: str) -> dict[str, tuple[float, list[str]]]:
    """``{pair: (SI-SDR change over the input, its groups)}``."""
    rows = json.loads(metrics.read_text())["rows"]
    base = {r["pair_id"]: r["si_sdr"] for r in rows if r["system"] == "input"}
    return {
        r["pair_id"]: (
            r["si_sdr"] - base[r["pair_id"]],
            ["all", f"stem:{r['stem']}", f"producer:{r['producer']}"]
            + [f"artifact:{a}" for a in r["artifacts"].split("+")],
        )
        for r in rows
        if r["system"] == system
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("stem_only", type=Path, help="run folder trained without the mixture")
    p.add_argument("mixture", type=Path, help="run folder trained with it")
    p.add_argument("--pairs", type=Path, default=Path("data/heldout_pairs"))
    p.add_argument("--name", default="mixture_ab")
    args = p.parse_args()
    stem_model = EnhancePipeline(load_model(args.stem_only / "model"), progress=False)
    mix_model = EnhancePipeline(load_model(args.mixture / "model"), progress=False)
    models = {
        "stem only": stem_model,
        "stem + mixture": mix_model,
        "stem + mixture, no --mix": lambda audio, rate, mix=None, stem=None: mix_model(
            audio, rate, stem=stem
        ),
    }
    out = Path("runs") / args.name
    evaluate(
        EvalConfig(args.pairs, ("input", *models), "all", examples=0), out, models, overwrite=True
    )
    changes = {s: per_pair(out / "metrics.json", s) for s in models}
    groups = sorted({g for _, gs in changes["stem only"].values() for g in gs})
    held = []
    for group in groups:
        row = {"group": group}
        for system, pairs in changes.items():
            d = np.array([v for v, gs in pairs.values() if group in gs])
            row["n"] = len(d)
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            row[system] = f"{d.mean():+.4f} ± {se:.4f}"
        held.append(row)
    curves = {"stem only": trajectory(args.stem_only), "stem + mixture": trajectory(args.mixture)}
    steps = sorted(set(curves["stem only"]) & set(curves["stem + mixture"]))
    valid = [{"step": s, **{k: round(c[s], 4) for k, c in curves.items()}} for s in steps]
    md = "\n".join(
        [
            "```",
            __doc__.strip(),
            "```",
            "",
            "## Validation SI-SDR during training (dB; step 0: the input)",
            "",
            markdown_table(valid, ["step", *curves]),
            "",
            "## Held-out SI-SDR change over the input (dB, mean ± standard error over pairs)",
            "",
            markdown_table(held, ["group", "n", *models]),
        ]
    )
    print(md)
    save_results(
        Path(__file__).parent / "results",
        args.name,
        provenance() | {"runs": [str(args.stem_only), str(args.mixture)]},
        {"validation": valid, "heldout": held},
        md,
    )


if __name__ == "__main__":
    main()
