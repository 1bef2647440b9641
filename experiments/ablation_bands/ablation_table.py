"""Compare the default (bench's `diffusion`) with the band ablation (evaluate's `model`).

    python experiments/ablation_bands/ablation_table.py BENCH_METRICS_JSON ABLATION_METRICS_JSON

Writes experiments/ablation_bands/results/ablation_bands.{md,json}.
"""

import json
import sys
from pathlib import Path

from stemprover.evaluation.results import markdown_table, provenance, save_results

METRICS = ("si_sdr_improvement", "mel_snr", "bleedless", "fullness", "phase_coherence")


def main() -> None:
    default = json.loads(Path(sys.argv[1]).read_text())["summary"]
    ablation = json.loads(Path(sys.argv[2]).read_text())["summary"]
    rows = []
    for group in default:
        if group not in ablation or "model" not in ablation[group]:
            continue
        for name, stats in (
            ("with bands (default)", default[group]["diffusion"]),
            ("no band attention/embedding", ablation[group]["model"]),
        ):
            rows.append({"group": group, "model": name, **{m: stats.get(m) for m in METRICS}})
    md = markdown_table(rows, ["group", "model", *METRICS])
    print(md)
    save_results(
        Path(__file__).parent / "results", "ablation_bands", provenance(), {"rows": rows}, md
    )


if __name__ == "__main__":
    main()
