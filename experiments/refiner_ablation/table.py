"""The ablation table: each run's validation at the step the ablations stopped at."""

from __future__ import annotations

import json
import sys
from pathlib import Path

RUNS = {
    "default (band-split, mixture, prior)": "runs/refiner",
    "band-split off (32 equal sub-bands)": "runs/ablation-band_split_off",
    "mixture off (stem alone)": "runs/ablation-mixture_off",
    "mask prior off (mask starts at 0)": "runs/ablation-mask_prior_off",
}
KEYS = ("valid_song_db", "valid_mixture_db", "valid_stem_db", "valid_song_harmed")


def main(at: int = 250) -> None:
    print(f"Validation SNR change (dB) at step {at} of the 2000-step schedule\n")
    print("| variant | song mode | with mixture | stem alone | song: share harmed |")
    print("|---|---|---|---|---|")
    for name, run in RUNS.items():
        log = Path(run) / "log.jsonl"
        rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        hit = [r for r in rows if r.get("step") == at and "valid_song_db" in r]
        if not hit:
            print(f"| {name} | not run | | | |")
            continue
        r = hit[-1]
        print(
            f"| {name} | " + " | ".join(f"{r[k]:+.3f}" for k in KEYS[:3]) + f" | {r[KEYS[3]]:.0%} |"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 250)
