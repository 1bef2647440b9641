"""Calibrate `--adapters auto`: the gain from detected severity to adapter weight.

    python experiments/calibrate_auto/calibrate_auto.py [--model default] [--pairs data/calib_pairs]
        [--gains 1 1.5 2 3 5] [--write]

`auto` weights each adapter by its artifact's detected severity times a gain (at most 1). The
detector's severities are not the best weights (on pure-bleed drums pairs they were 0.06-0.66,
and auto kept a fifth of what the adapter at weight 1 gained), so this scores `auto` at each
gain on calibration pairs, with their mixtures, and with ``--write`` stores the best in
``<model>/adapters/auto.json``, which `auto` reads. The pairs must not be the bench's held-out
ones; make them like those with another seed:

    stemprover pairs --out data/calib_pairs --synthetic 12 --seconds 8 --seed 7100 \\
        --soundfont "$(python -c 'from stemprover.data.synth import bundled_soundfont as f; print(f())')" \\
        --split valid

Results: experiments/calibrate_auto/results/calibrate_auto.{md,json} (SI-SDR change over the input per group, and
each gain paired against gain 1).
"""

import argparse
import json
from pathlib import Path

from stemprover.evaluation.results import (
    markdown_table,
    paired_difference,
    provenance,
    save_results,
)
from stemprover.evaluation.run import EvalConfig, evaluate
from stemprover.models.base import bundled_models, load_model
from stemprover.models.lora import AUTO_CONFIG
from stemprover.pipeline import EnhancePipeline


def _at_gain(pipeline: EnhancePipeline, gain: float):
    def run(audio, rate, mix=None, stem=None):
        pipeline.adapters.gain = gain
        return pipeline(audio, rate, mix=mix, stem=stem)

    return run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--pairs", type=Path, default=Path("data/calib_pairs"))
    p.add_argument("--split", default="valid")
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0, 5.0])
    p.add_argument("--out", type=Path, default=Path("runs/calibrate_auto"))
    p.add_argument("--write", action="store_true", help="store the best gain with the model")
    args = p.parse_args()
    if 1.0 not in args.gains:
        p.error("--gains must include 1 (the uncalibrated auto, the paired reference)")
    meta = provenance()  # before the model is loaded: the revision of what is measured
    pipeline = EnhancePipeline(load_model(args.model, adapters="auto"), progress=False)
    gains = {f"gain={g:g}": g for g in args.gains}
    models = {label: _at_gain(pipeline, g) for label, g in gains.items()}
    summary = evaluate(
        EvalConfig(args.pairs, ("input", *models), args.split, examples=0),
        args.out,
        models,
        overwrite=True,
    )
    rows = json.loads((args.out / "metrics.json").read_text())["rows"]
    n = summary["all"]["input"]["n"]
    paired = []
    for system in models:
        diff = paired_difference(rows, system, "gain=1")
        paired.append(
            {
                "gain": system,
                "si_sdr_improvement": summary["all"][system]["si_sdr_improvement"],
                "vs_gain_1": diff["mean"],
                "se": diff["se"],
                "better": diff["better"],
            }
        )
    best = max(paired, key=lambda r: r["si_sdr_improvement"])
    groups = [
        {"group": g, **{s: summary[g].get(s, {}).get("si_sdr_improvement") for s in models}}
        for g in summary
    ]
    md = [
        f"Best: **{best['gain']}** on {n} pairs of `{args.pairs}` ({args.split}).",
        markdown_table(paired, ["gain", "si_sdr_improvement", "vs_gain_1", "se", "better"]),
        "SI-SDR change over the input per group\n\n" + markdown_table(groups, ["group", *models]),
    ]
    print("\n\n".join(md))
    save_results(
        Path(__file__).parent / "results",
        "calibrate_auto",
        meta,
        {"paired": paired, "groups": groups},
        "\n\n".join(md),
    )
    if args.write:
        folder = bundled_models().get(args.model, Path(args.model))
        path = folder / "adapters" / AUTO_CONFIG
        gain = gains[best["gain"]]
        record = {"gain": gain, "pairs": str(args.pairs), "n": n, **meta}
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"gain {gain:g} -> {path}")


if __name__ == "__main__":
    main()
