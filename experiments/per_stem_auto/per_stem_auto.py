"""Do a model's per-stem adapters pay through `--adapters auto`? On one stem type's pairs:

    python experiments/per_stem_auto/per_stem_auto.py --stem drums [--model default] [--pairs data/calib_pairs]
        [--split valid] [--extra DIR ...]

Systems, all `auto` with each pair's mixture: ``all-stem`` (the stem type withheld, so only
the all-stem adapters run), ``+NAME`` for each per-stem adapter of that type alone (stored
with the model, or given with ``--extra`` to try one before it ships), and ``+all`` with all
of them. SI-SDR change over the input, and each paired against ``all-stem``:
bench/results/per_stem_auto_<stem>.{md,json}. Use calibration pairs, not the bench's
held-out ones, to decide what ships (experiments/calibrate_auto/calibrate_auto.py says how to make them).
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from stemprover.evaluation.results import (
    markdown_table,
    paired_difference,
    provenance,
    save_results,
)
from stemprover.evaluation.run import EvalConfig, evaluate
from stemprover.models.base import bundled_models, load_model
from stemprover.pipeline import EnhancePipeline


def _auto(pipeline: EnhancePipeline, keep: set[str] | None, stem_known: bool):
    """`auto` routing over only the adapters in ``keep`` (the others weigh 0)."""
    infos = pipeline.adapters.infos
    chosen = infos if keep is None else [i for i in infos if not i.stems or i.name in keep]

    def run(audio, rate, mix=None, stem=None):
        pipeline.adapters.infos = chosen
        return pipeline(audio, rate, mix=mix, stem=stem if stem_known else None)

    return run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stem", required=True)
    p.add_argument("--model", default="default")
    p.add_argument("--pairs", type=Path, default=Path("data/calib_pairs"))
    p.add_argument("--split", default="valid")
    p.add_argument("--extra", type=Path, nargs="*", default=[], help="per-stem adapter folders")
    p.add_argument("--out", type=Path, default=Path("runs/per_stem_auto"))
    args = p.parse_args()
    meta = provenance()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"  # the model with the extra adapters stored beside it
        shutil.copytree(bundled_models().get(args.model, Path(args.model)), model_dir)
        for folder in args.extra:
            shutil.copytree(folder, model_dir / "adapters" / folder.name)
        pipeline = EnhancePipeline(load_model(model_dir, adapters="auto"), progress=False)
    own = [i.name for i in pipeline.adapters.infos if args.stem in i.stems]
    if not own:
        p.error(f"the model has no per-stem adapter for {args.stem!r} (give one with --extra)")
    models = {"all-stem": _auto(pipeline, set(), stem_known=False)}
    models |= {f"+{name}": _auto(pipeline, {name}, stem_known=True) for name in own}
    if len(own) > 1:
        models["+all"] = _auto(pipeline, None, stem_known=True)
    evaluate(
        EvalConfig(args.pairs, ("input", *models), args.split, examples=0, stems=(args.stem,)),
        args.out,
        models,
        overwrite=True,
    )
    rows = json.loads((args.out / "metrics.json").read_text())["rows"]
    table = []
    for system in models:
        diff = paired_difference(rows, system, "all-stem")
        table.append(
            {
                "system": system,
                "si_sdr_improvement": paired_difference(rows, system, "input")["mean"],
                "vs_all_stem": diff["mean"],
                "se": diff["se"],
                "better": diff["better"],
            }
        )
    n = len({r["pair_id"] for r in rows})
    md = (
        f"`auto` on the {n} {args.stem} pairs of `{args.pairs}` ({args.split}), "
        "with mixtures; SI-SDR change over the input (dB), and paired against all-stem.\n\n"
        + markdown_table(table, ["system", "si_sdr_improvement", "vs_all_stem", "se", "better"])
    )
    print(md)
    save_results(
        Path(__file__).parent / "results",
        f"per_stem_auto_{args.stem}",
        meta,
        {"rows": table},
        md,
    )


if __name__ == "__main__":
    main()
