"""`stemprover demo`: a synthetic song, separated, enhanced, evaluated and reported, offline."""

from __future__ import annotations

from pathlib import Path

from stemprover.api import EnhanceOptions, load_pipeline
from stemprover.audio import io
from stemprover.data.pairs import PairsConfig, build_pairs
from stemprover.evaluation.run import EvalConfig, evaluate
from stemprover.evaluation.song import as_enhance_runs


def run_demo(
    out: Path,
    model: str = "default",
    seconds: float = 12.0,
    seed: int = 7,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Render one song (held-out SoundFont seed range), separate its mixture with degraded
    masks, enhance the four stems with ``model`` in its default mode (with ``auto`` adapters
    when it has any, and in song mode when it reads the other stems, as ``stemprover
    enhance`` does) and write the evaluation report.

    Returns:
        The report's path, ``out/report/report.html``.
    """
    enhancer = as_enhance_runs(load_pipeline(EnhanceOptions(model=model)))
    with io.atomic_dir(out, overwrite) as tmp:
        build_pairs(
            PairsConfig(
                synthetic=1, seconds=seconds, seed=seed, producers={"mask": 1.0}, split="test"
            ),
            tmp / "pairs",
            progress=progress,
        )
        systems = ("input", "spectral-gate", "wiener", "wiener-mc", "stemprover", "oracle")
        evaluate(
            EvalConfig(tmp / "pairs", systems, "test", examples=4),
            tmp / "report",
            {"stemprover": enhancer},
            progress=progress,
        )
    return out / "report" / "report.html"
