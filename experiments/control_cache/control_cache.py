"""What caching the control features saves: enhance time with and without the cache.

    python experiments/control_cache/control_cache.py [--seconds 20] [--model default]

The control branch sees only the artifacted stem, so its features are computed once per
segment; without the cache they are recomputed at every denoising step. Outputs are identical
either way (tests/models/test_model.py); this measures the time.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from stemprover.evaluation.results import markdown_table, provenance, save_results
from stemprover.models import load_model
from stemprover.pipeline import EnhancePipeline


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--model", default="default")
    args = p.parse_args()
    audio = 0.1 * np.random.default_rng(0).standard_normal((2, round(args.seconds * 44100))).astype(
        np.float32
    )
    rows = []
    for steps in (4, 10, 25):
        row = {"steps": steps}
        for cache in (True, False):
            model = load_model(args.model, adapters="none")
            sampling = model.sampling_options(steps=steps, cache_control=cache)
            pipe = EnhancePipeline(model, device="cpu", progress=False, sampling=sampling)
            began = time.perf_counter()
            pipe(audio, 44100)
            row["cached_s" if cache else "uncached_s"] = time.perf_counter() - began
        row["saving"] = f"{100 * (1 - row['cached_s'] / row['uncached_s']):.0f}%"
        rows.append(row)
        print(row, flush=True)
    md = f"{args.seconds:g} s of stereo 44.1 kHz, CPU:\n\n" + markdown_table(
        rows, ["steps", "cached_s", "uncached_s", "saving"]
    )
    save_results(
        Path(__file__).parent / "results", "control_cache", provenance(), {"rows": rows}, md
    )
    print(md)


if __name__ == "__main__":
    main()
