"""Recording results: provenance (command, date, machine, git revision), markdown tables,
paired differences, and the JSON + markdown pair every benchmark script writes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from stemprover.errors import StemProverError
from stemprover.evaluation.run import json_safe


def provenance() -> dict:
    """Command, date, machine and git revision of a result."""
    import torch

    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        # Untracked files count: a new adapter or model not yet committed changes the results.
        # Ignored ones (data/, runs/) do not.
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True
        ).stdout.strip()
        rev += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return {
        "command": " ".join([_program(), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "git_revision": rev,
    }


def _program() -> str:
    name = Path(sys.argv[0]).name
    return "stemprover" if name in ("__main__.py", "stemprover") else name


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def on_stems(model, base, stems: tuple[str, ...]):
    """A system that runs ``model`` on pairs of these stem types (all when empty) and ``base``
    on the others: a per-stem adapter's column, as ``--adapters auto`` routes it. Both are
    callables ``(audio, rate, mix=None, stem=None)``, as :func:`~.run.evaluate` calls them."""
    if not stems:
        return model

    def run(audio, rate, mix=None, stem=None):
        chosen = model if stem in stems else base
        return chosen(audio, rate, mix=mix, stem=stem)

    return run


def paired_difference(
    rows: list[dict], system: str, reference: str, metric: str = "si_sdr"
) -> dict:
    """``system`` minus ``reference`` per pair (evaluate's metrics.json rows): mean, standard
    error and how many pairs are better, e.g. ``{"mean": 0.21, "se": 0.12, "better": "10/12"}``."""
    value = {(r["pair_id"], r["system"]): r[metric] for r in rows}
    pairs = sorted({r["pair_id"] for r in rows})
    diff = np.array([value[(p, system)] - value[(p, reference)] for p in pairs], dtype=float)
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return {
        "mean": float(diff.mean()),
        "se": float(se),
        "better": f"{int((diff > 0).sum())}/{len(diff)}",
    }


DIRTY_BANNER = (
    "> **NOT PUBLISHABLE: measured on a tree with uncommitted changes (`+dirty`).** "
    "Commit, then re-run on the clean revision."
)


def is_dirty(meta: dict) -> bool:
    return str(meta.get("git_revision", "")).endswith("+dirty")


def save_results(folder: Path, name: str, meta: dict, data: dict, markdown: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(
        json.dumps(json_safe({**meta, **data}), indent=1, default=str, allow_nan=False) + "\n"
    )
    header = "\n".join(f"- {k}: `{v}`" for k, v in meta.items())
    if is_dirty(meta):
        header = DIRTY_BANNER + "\n\n" + header
    path = folder / f"{name}.md"
    path.write_text(f"# {name}\n\n{header}\n\n{markdown}\n")
    return path


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` in a fresh interpreter; return wall seconds, its peak RSS (MB), its output."""
    probe = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "print(time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,r.returncode);"
        "print(r.stdout+r.stderr)"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe, *cmd], capture_output=True, text=True, check=True
    )
    first, _, rest = res.stdout.partition("\n")
    wall, rss_kb, code = first.split()
    if int(code) != 0:
        raise StemProverError(f"benchmark command failed ({' '.join(cmd)}): {rest.strip()[-300:]}")
    return float(wall), int(rss_kb) / 1024, rest
