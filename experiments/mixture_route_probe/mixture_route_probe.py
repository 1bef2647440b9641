"""Would a mixture-reading bleed specialist help if it were routed like an adapter?

A probe, not a product path: the specialist enhances each held-out pair with its mixture;
its output is then blended with the input by a weight, ``x + w·(y − x)`` in the waveform
(LoRA weights act inside the network instead, so this only approximates an adapter). Weights:
1 (the specialist alone), the bleed score that `analyze` gives the stem beside its mixture
(what `--adapters auto` would use), and 1 on pairs that have bleed / 0 elsewhere (routing
that knows the answer: an upper bound).

    python experiments/mixture_route_probe/mixture_route_probe.py runs/mixbleed_drop/model

runs/mixbleed_drop: a copy of experiments/mixture_ab/mixture_ab.py's mixture run at step 700, resumed with
`stemprover train --pairs data/bleed_pairs --out runs/mixbleed_drop --config base
--set model.denoiser.mixture=true --set train.identity_pairs=0 --set train.mixture_dropout=0.2
--set train.steps=900 --set train.validate_every=100 --set train.valid_pairs=8`.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from stemprover.analysis import analyze
from stemprover.audio import io
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.results import markdown_table, provenance, save_results
from stemprover.models.base import load_model
from stemprover.pipeline import EnhancePipeline


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model", type=Path, help="a model trained with model.denoiser.mixture")
    p.add_argument("--pairs", type=Path, default=Path("data/heldout_pairs"))
    args = p.parse_args()
    pipe = EnhancePipeline(load_model(args.model, adapters="none"), progress=False)
    rows = []
    for rec in read_manifest(args.pairs):
        ref, art, mix = (
            io.read(args.pairs / rec[k], "float64")[0] for k in ("clean", "artifacted", "mixture")
        )
        y = pipe(art, rec["sample_rate"], mix=mix)
        score = analyze(art, rec["sample_rate"], mix)["bleed"]["score"]
        base = si_sdr(ref, art)
        weights = {"alone": 1.0, "analyze": score, "known": float("bleed" in rec["artifacts"])}
        row = {"pair": rec["id"], "bleed": "bleed" in rec["artifacts"], "score": score}
        for name, w in weights.items():
            row[name] = si_sdr(ref, art + w * (y - art)) - base
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = []
    for group, keep in (("all", lambda r: True), ("bleed", lambda r: r["bleed"])):
        chosen = [r for r in rows if keep(r)]
        line = {"group": group, "n": len(chosen)}
        for name in ("alone", "analyze", "known"):
            d = np.array([r[name] for r in chosen])
            line[name] = f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}"
        table.append(line)
    scores = {b: np.mean([r["score"] for r in rows if r["bleed"] == b]) for b in (True, False)}
    md = "\n".join(
        [
            "```",
            __doc__.strip(),
            "```",
            "",
            "SI-SDR change over the input (dB, mean ± standard error over pairs):",
            "",
            markdown_table(table, ["group", "n", "alone", "analyze", "known"]),
            "",
            f"Mean bleed score: {scores[True]:.3f} on pairs with bleed, "
            f"{scores[False]:.3f} on the others.",
        ]
    )
    print(md)
    save_results(
        Path(__file__).parent / "results",
        "mixture_route_probe",
        provenance() | {"model": str(args.model)},
        {"rows": rows, "table": table},
        md,
    )


if __name__ == "__main__":
    main()
