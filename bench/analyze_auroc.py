"""How well `stemprover analyze` ranks affected vs unaffected stems, per artifact type.

    python bench/analyze_auroc.py PAIRS_DIR [--split valid] [--limit 40]

Positives for a type: artifacted stems whose manifest lists it (severity >= 0.3). Negatives:
the clean stems, and artifacted stems without that type. Also checks that ±20 dB of gain
does not move any score, the Spearman correlation of score with severity across the listed
stems (different songs and instruments), and, within one stem, whether the score rises with
severity: each type is simulated alone at severities SWEEP on the first --sweep clean stems.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from stemprover.analysis import DETECTORS, analyze
from stemprover.audio import io
from stemprover.data.artifacts import simulate
from stemprover.evaluation.results import markdown_table, provenance, save_results

SWEEP = (0.25, 0.5, 0.75, 1.0)


def auroc(pos: list[float], neg: list[float]) -> float:
    pos, neg = np.asarray(pos), np.asarray(neg)
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def spearman(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1]) if len(x) > 2 else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("pairs", type=Path)
    p.add_argument("--split", default="valid")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--mix", action="store_true", help="give the analyzer the mixture")
    p.add_argument("--save", action="store_true", help="write bench/results/analyze_auroc/*")
    p.add_argument("--detector", default="auto", help="auto, heuristic or a detector folder")
    p.add_argument("--sweep", type=int, default=16, help="clean stems in the severity sweep")
    args = p.parse_args()
    recs = [json.loads(x) for x in (args.pairs / "manifest.jsonl").read_text().splitlines()]
    recs = [r for r in recs if r["split"] == args.split][: args.limit]
    samples = []  # (scores, artifacts, gain_scores)
    for r in recs:
        mix = io.read(args.pairs / r["mixture"], "float64")[0] if args.mix else None
        for key, arts in (("clean", {}), ("artifacted", r["artifacts"])):
            x, info = io.read(args.pairs / r[key], "float64")
            scores = {
                k: v["score"] for k, v in analyze(x, info.sample_rate, mix, args.detector).items()
            }
            quiet = {
                k: v["score"]
                for k, v in analyze(
                    x * 0.1, info.sample_rate, None if mix is None else mix * 0.1, args.detector
                ).items()
            }
            samples.append((scores, arts, quiet))
    sweeps = severity_sweeps(args, recs[: args.sweep])  # {type: [(scores by SWEEP)]}
    rows = []
    for name in DETECTORS:
        pos = [s[name] for s, a, _ in samples if a.get(name, 0) >= 0.3]
        neg = [s[name] for s, a, _ in samples if name not in a]
        sev = [(a[name], s[name]) for s, a, _ in samples if name in a]
        gain_shift = max(abs(s[name] - q[name]) for s, _, q in samples)
        rows.append(
            {
                "artifact": name,
                "auroc": auroc(pos, neg),
                "n_pos": len(pos),
                "n_neg": len(neg),
                "spearman_severity": spearman(*zip(*sev, strict=True))
                if len(sev) > 2
                else float("nan"),
                "max_score_change_at_-20dB": gain_shift,
                "sweep_spearman": float(np.mean([spearman(SWEEP, s) for s in sweeps[name]])),
                "sweep_rises": float(np.mean([s[-1] > s[0] for s in sweeps[name]])),
            }
        )
    md = markdown_table(rows, list(rows[0]))
    print(md)
    if args.save:
        save_results(
            Path(__file__).parent / "results" / "analyze_auroc",
            "analyze_auroc"
            + ("_heuristic" if args.detector == "heuristic" else "")
            + ("_mix" if args.mix else ""),
            provenance(),
            {"rows": rows},
            md,
        )


def severity_sweeps(args, recs) -> dict[str, list[list[float]]]:
    """Scores of each type simulated alone at every SWEEP severity on each record's clean stem."""
    out = {name: [] for name in DETECTORS}
    for k, r in enumerate(recs):
        clean, info = io.read(args.pairs / r["clean"], "float64")
        mix = io.read(args.pairs / r["mixture"], "float64")[0]
        for name in DETECTORS:
            scores = []
            for sev in SWEEP:
                art = simulate(clean, mix - clean, info.sample_rate, {name: sev}, seed=k)
                given = mix - clean + art if args.mix else None
                scores.append(analyze(art, info.sample_rate, given, args.detector)[name]["score"])
            out[name].append(scores)
    return out


if __name__ == "__main__":
    main()
