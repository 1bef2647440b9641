"""How much can filling the lost band from the mixture give, per stem type? Lost-highs pairs.

    python experiments/lost_highs_oracle/lost_highs_oracle.py [--pairs data/hf_test] [--name lost_highs_oracle]

For each pair with ``hf_loss``, the band above the simulated cutoff
(``data.artifacts.hf_loss_cutoff`` of the pair's severity, plus 300 Hz of transition) is
replaced in the artifacted stem's STFT (the simulators' analysis STFT) by: the mixture itself (``copy``), or the mixture under the ideal
ratio mask ``min(|clean| / |mixture|, 1)`` (``ideal``, an oracle). SI-SDR change over the
input (dB), mean per stem type: bench/results/<name>.{md,json}. The pairs are made by
``stemprover pairs --out data/hf_test --synthetic 24 --seconds 8 --seed 9700 --producer simulate
--artifacts hf_loss --severity 0.3,1 --soundfont <pretty_midi's TimGM6mb.sf2> --split test``.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.audio.stft import ANALYSIS_STFT, istft_np, stft_np
from stemprover.data.artifacts import hf_loss_cutoff
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.results import markdown_table, provenance, save_results


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=Path, default=Path("data/hf_test"))
    p.add_argument("--name", default="lost_highs_oracle")
    args = p.parse_args()
    meta = provenance()
    records = [json.loads(line) for line in (args.pairs / "manifest.jsonl").open()]
    out: dict[str, dict[str, list[float]]] = {}
    for rec in records:
        severity = rec["artifacts"].get("hf_loss")
        if severity is None or rec["producer"] != "simulate":
            continue
        clean, info = io.read(args.pairs / rec["clean"], "float64")
        rate = info.sample_rate
        art, _ = io.read(args.pairs / rec["artifacted"], "float64")
        mix, _ = io.read(args.pairs / rec["mixture"], "float64")
        high = np.fft.rfftfreq(ANALYSIS_STFT.n_fft, 1 / rate) > hf_loss_cutoff(severity, rate) + 300
        A, C, M = stft_np(art), stft_np(clean), stft_np(mix)
        ideal = np.minimum(np.abs(C) / (np.abs(M) + 1e-12), 1) * M
        base = si_sdr(clean, art)
        row = out.setdefault(rec["stem"], {"input": [], "copy": [], "ideal": []})
        row["input"].append(base)
        for name, fill in (("copy", M), ("ideal", ideal)):
            spec = A.copy()
            spec[:, high] = fill[:, high]
            row[name].append(si_sdr(clean, istft_np(spec, art.shape[-1])) - base)
    table = [
        {
            "stem": stem,
            "pairs": len(v["input"]),
            "input_si_sdr": float(np.mean(v["input"])),
            "copy_mixture": float(np.mean(v["copy"])),
            "ideal_fill": float(np.mean(v["ideal"])),
        }
        for stem, v in sorted(out.items())
    ]
    md = "SI-SDR of the input and change over it (dB) when the lost band is filled\n\n"
    md += markdown_table(table, ["stem", "pairs", "input_si_sdr", "copy_mixture", "ideal_fill"])
    print(md)
    save_results(Path(__file__).parent / "results", args.name, meta, {"table": table}, md)


if __name__ == "__main__":
    main()
