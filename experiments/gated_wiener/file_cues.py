"""Can a file-level cue say when to use wiener-mc? Two reference-free cues, each with a
threshold chosen on the training pairs, applied to the held-out pairs:

- ``agree``: SI-SDR of the stem against its wiener-mc estimate (use W when they disagree);
- ``res``: how much of the mixture the song's stems leave out, in dB (use W when much).

    python experiments/gated_wiener/file_cues.py --train data/gw_train --heldout data/heldout_pairs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from gated_wiener import load_songs

from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.results import markdown_table, provenance, save_results
from stemprover.evaluation.run import INPUT_BINS, input_bin


def cues(pairs: list[dict]) -> list[dict]:
    songs: dict[str, list[dict]] = {}
    for p in pairs:
        songs.setdefault(p["rec"]["song"], []).append(p)
    out = []
    for ps in songs.values():
        mix = ps[0]["mix"]
        left = mix - sum(q["art"] for q in ps)
        res = 10 * np.log10(np.sum(left**2) / np.sum(mix**2) + 1e-12)
        for p in ps:
            start = si_sdr(p["clean"], p["art"])
            gain = si_sdr(p["clean"], p["wmc"]) - start
            out.append(
                {"agree": si_sdr(p["art"], p["wmc"]), "res": res, "gain": gain, "start": start}
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--heldout", type=Path, required=True)
    args = ap.parse_args()
    train, test = cues(load_songs(args.train, None)), cues(load_songs(args.heldout, "test"))
    rows = []
    for name, below in (("agree", True), ("res", False)):
        x, g = (np.array([r[k] for r in train]) for k in (name, "gain"))
        threshold = max(np.unique(x), key=lambda t: np.mean(np.where((x < t) == below, g, 0)))
        xt, gt = (np.array([r[k] for r in test]) for k in (name, "gain"))
        chosen = np.where((xt < threshold) == below, gt, 0.0)
        row = {
            "cue": name,
            "threshold": round(float(threshold), 2),
            "held-out": f"{chosen.mean():+.2f}",
        }
        row["harmed"] = f"{np.mean(chosen < -0.5):.0%}"
        for _, bin_name in INPUT_BINS:
            sel = np.array([input_bin(r["start"]) == bin_name for r in test])
            row[bin_name] = f"{chosen[sel].mean():+.2f}"
        rows.append(row)
    columns = ["cue", "threshold", "held-out", "harmed", *(b for _, b in INPUT_BINS)]
    md = "SI-SDR change on the held-out pairs when W is used where the cue says:\n\n"
    path = save_results(
        Path(__file__).parent / "results",
        "file_cues",
        provenance(),
        {"rows": rows},
        md + markdown_table(rows, columns),
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
