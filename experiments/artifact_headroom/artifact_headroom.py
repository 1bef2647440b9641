"""How much SI-SDR each artifact type leaves to win, and which kind of correction can win it.

    python experiments/artifact_headroom/artifact_headroom.py [--pairs data/train_pairs] [--songs 6]

Each artifact type is simulated alone at severities 0.5 and 1 on the clean stems of the first
``--songs`` songs of a pairs folder. For each case the SI-SDR of the artifacted stem is compared
with three oracles that know the clean stem, all on the model's STFT (1024 points, hop 256):

- ``magnitude``: the clean magnitude with the artifacted phase (any magnitude-only fix);
- ``mask<=2`` / ``mask<=8``: the artifacted STFT times the clean/artifacted magnitude ratio,
  clipped so that the gain on the 0.5-compressed spectrum stays below 2 (the ``gain`` output
  head) or 8 (``log_gain`` with ``max_gain`` 8).

What a magnitude fix cannot reach is phase: that is where ``phasiness`` lives.
Results land in experiments/artifact_headroom/results/artifact_headroom.{md,json}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.audio.stft import StftConfig, istft_np, stft_np
from stemprover.data.artifacts import ARTIFACTS, simulate
from stemprover.data.manifest import read_manifest
from stemprover.evaluation.metrics import si_sdr
from stemprover.evaluation.results import markdown_table, provenance, save_results

RESULTS = Path(__file__).parent / "results"
MODEL_STFT = StftConfig(n_fft=1024, hop=256, compress=1.0)
COMPRESS = 0.5  # the default model's compression: a gain g there is g^(1/COMPRESS) linear


def oracles(clean: np.ndarray, art: np.ndarray) -> dict[str, float]:
    """SI-SDR gain (dB) of each oracle over the artifacted stem. Shape: ``(C, T)`` each."""
    c, a = stft_np(clean, MODEL_STFT), stft_np(art, MODEL_STFT)
    ratio = np.abs(c) / (np.abs(a) + 1e-12)
    base = si_sdr(clean, art)
    outs = {
        "magnitude": np.abs(c) * np.exp(1j * np.angle(a)),
        "mask<=2": a * np.minimum(ratio, 2 ** (1 / COMPRESS)),
        "mask<=8": a * np.minimum(ratio, 8 ** (1 / COMPRESS)),
    }
    return {"input": base} | {
        k: si_sdr(clean, istft_np(v, clean.shape[-1], MODEL_STFT)) - base for k, v in outs.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=Path("data/train_pairs"))
    ap.add_argument("--songs", type=int, default=6)
    args = ap.parse_args()
    records = read_manifest(args.pairs)
    songs = sorted({r["song"] for r in records})[: args.songs]
    rows: dict[tuple[str, float], list[dict]] = {}
    for song in songs:
        mine = {r["stem"]: r for r in records if r["song"] == song}
        stems = {s: io.read(args.pairs / r["clean"], "float64")[0] for s, r in mine.items()}
        for name, clean in stems.items():
            if np.sqrt(np.mean(clean**2)) < 1e-4:  # a silent stem has no SI-SDR
                continue
            others = sum(v for k, v in stems.items() if k != name)
            for art in ARTIFACTS:
                for sev in (0.5, 1.0):
                    out = simulate(clean, others, mine[name]["sample_rate"], {art: sev}, seed=1)
                    rows.setdefault((art, sev), []).append(oracles(clean, out))
    table = [
        {
            "artifact": art,
            "severity": sev,
            "n": len(v),
            **{k: float(np.mean([r[k] for r in v])) for k in v[0]},
        }
        for (art, sev), v in rows.items()
    ]
    cols = ["artifact", "severity", "n", "input", "magnitude", "mask<=2", "mask<=8"]
    md = (
        "SI-SDR of the artifacted stem (`input`, dB) and the SI-SDR gain (dB) of oracles that "
        "know the clean stem: `magnitude` = clean magnitude with the artifacted phase; "
        "`mask<=G` = magnitude-ratio mask whose gain on the 0.5-compressed spectrum is at most "
        f"G. Clean stems of {len(songs)} songs of `{args.pairs}`, each type alone.\n\n"
        + markdown_table(table, cols)
    )
    path = save_results(RESULTS, "artifact_headroom", provenance(), {"rows": table}, md)
    print(md)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
