"""Base model vs base + one adapter (and `auto` when the model stores adapters), per group.

    python experiments/adapter_eval/adapter_eval.py [LABEL=]ADAPTER_DIR [...] [--model default] [--stem vocals]
        [--pairs data/heldout_pairs] [--out runs/adapter_eval] [--name adapter_eval]

SI-SDR (and mel-SNR, log-spectral distance: `--metrics`) change over the input per stem,
artifact type and producer on the held-out pairs (with their mixtures, for models that read them); written to
bench/results/<name>.{md,json}. Each adapter's column is ``base+LABEL``; the label defaults to
the folder's name (the adapter's), so two runs of one adapter need labels. A per-stem adapter
(``hf_loss-drums``) runs only on pairs of its stem types, as ``auto`` routes it; the base
enhances the others in its column.
"""

import argparse
from pathlib import Path

from stemprover.evaluation.results import markdown_table, on_stems, provenance, save_results
from stemprover.evaluation.run import EvalConfig, evaluate
from stemprover.models.base import load_model, model_adapters
from stemprover.models.lora import adapter_info
from stemprover.pipeline import EnhancePipeline


def _labelled(arg: str) -> tuple[str, Path]:
    label, sep, folder = arg.rpartition("=")
    return (label, Path(folder)) if sep else (Path(folder).name, Path(folder))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("adapters", nargs="+", type=_labelled, help="[LABEL=]ADAPTER_DIR")
    p.add_argument("--model", default="default")
    p.add_argument("--pairs", type=Path, default=Path("data/heldout_pairs"))
    p.add_argument("--out", type=Path, default=Path("runs/adapter_eval"))
    p.add_argument("--name", default="adapter_eval", help="results file name")
    p.add_argument("--stem", action="append", default=[], help="only pairs of this stem type")
    p.add_argument(
        "--metrics", nargs="+", default=["si_sdr", "mel_snr", "lsd"], help="one table each"
    )
    args = p.parse_args()
    meta = provenance()  # before the models are loaded: the revision of what is measured
    models = {"base": EnhancePipeline(load_model(args.model, adapters="none"), progress=False)}
    for label, folder in args.adapters:
        if f"base+{label}" in models:
            p.error(f"two adapters labelled {label!r}: give them labels (LABEL=DIR)")
        model = load_model(args.model, adapters=str(folder))
        pipeline = EnhancePipeline(model, progress=False)
        models[f"base+{label}"] = on_stems(pipeline, models["base"], adapter_info(folder).stems)
    if model_adapters(args.model):
        models["auto"] = EnhancePipeline(load_model(args.model, adapters="auto"), progress=False)
    systems = ("input", *models)
    summary = evaluate(
        EvalConfig(args.pairs, systems, "test", examples=0, stems=tuple(args.stem)),
        args.out,
        models,
        overwrite=True,
    )
    tables, md = {}, []
    for metric in args.metrics:
        tables[metric] = [
            {"group": g, **{s: summary[g].get(s, {}).get(f"{metric}_improvement") for s in models}}
            for g in summary
        ]
        better = " (lower is better)" if metric == "lsd" else ""
        table = markdown_table(tables[metric], ["group", *models])
        md.append(f"{metric} change over the input{better}\n\n{table}")
    print("\n\n".join(md))
    save_results(
        Path(__file__).parent / "results",
        args.name,
        meta,
        {"tables": tables},
        "\n\n".join(md),
    )


if __name__ == "__main__":
    main()
