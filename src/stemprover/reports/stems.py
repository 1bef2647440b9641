"""``enhance --report DIR``: what cleaning did to a user's own stems, without a reference.

Per stem: before / after / removed spectrograms with a colour bar, audio players, the
detected artifacts before and after in words ("bleed: moderate → low"), and a one-line
verdict. Only the first 30 s are analysed and shown, so memory stays flat on long files.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.reports.html import STYLE
from stemprover.reports.plots import spectrograms
from stemprover.vocabulary import ARTIFACT_WORDS, severity_word

SECONDS = 30.0


def _head(path: Path) -> tuple[np.ndarray, int]:
    info = io.probe(path)
    with io.BlockReader(info, "float64") as reader:
        return reader.read(0, min(info.frames, round(SECONDS * info.sample_rate))), info.sample_rate


def _severities(audio: np.ndarray, rate: int, mix: np.ndarray | None) -> dict[str, float]:
    from stemprover.analysis import analyze

    return {name: r["score"] for name, r in analyze(audio, rate, mix).items()}


def verdict(before: dict[str, float], after: dict[str, float], removed_db: float) -> str:
    """One line: what went down, what went up, how much was removed."""
    down = [n for n in before if before[n] - after[n] >= 0.05]
    up = [n for n in before if after[n] - before[n] >= 0.05]
    words = lambda names: ", ".join(ARTIFACT_WORDS.get(n, n) for n in names)  # noqa: E731
    if not down and not up:
        what = "little changed: no artifact moved by more than 0.05"
    elif down and not up:
        what = f"cleaner: less {words(down)}"
    elif up and not down:
        what = f"worse: more {words(up)}"
    else:
        what = f"mixed: less {words(down)}, more {words(up)}"
    return f"{what}; input − output is {-removed_db:.1f} dB below the input"


def _stem_section(folder: Path, k: int, result, mix: Path | None) -> str:
    x, rate = _head(result.input)
    y, _ = _head(result.output)
    m = None
    if mix is not None:
        from stemprover.audio.conform import conformed

        info = io.probe(result.input)
        fitted = conformed(info, io.probe(mix), folder)
        m = _head(fitted.path)[0][..., : x.shape[-1]]
        if fitted.path != mix:
            fitted.path.unlink(missing_ok=True)
    removed = x - y
    removed_db = 10 * np.log10((np.sum(removed**2) + 1e-20) / (np.sum(x**2) + 1e-20))
    before, after = _severities(x, rate, m), _severities(y, rate, m)
    img = spectrograms(
        {"before (input)": x, "after (output)": y, "removed (input − output)": removed},
        rate,
        folder / f"stem{k}.png",
        colorbar=True,
    )
    rows = "".join(
        f"<tr><td>{html.escape(ARTIFACT_WORDS.get(n, n))}</td>"
        f"<td>{severity_word(before[n])} ({before[n]:.2f})</td>"
        f"<td>{severity_word(after[n])} ({after[n]:.2f})</td></tr>"
        for n in sorted(before, key=lambda n: -before[n])
    )
    players = []
    for name, audio in (("before", x), ("after", y), ("removed", removed)):
        fname = f"stem{k}_{name}.flac"
        io.write(folder / fname, np.clip(audio, -1, 1), rate, "PCM_16", overwrite=True)
        players.append(
            f"<div>{name}<br><audio controls preload='none' src='{fname}'></audio></div>"
        )
    title = f"{result.input.name} → {result.output.name} ({result.stem or 'unknown stem'})"
    return (
        f"<h2>{html.escape(title)}</h2>"
        f"<p class='verdict'><b>{html.escape(verdict(before, after, removed_db))}</b></p>"
        f"<table><tr><th>artifact</th><th>before</th><th>after</th></tr>{rows}</table>"
        f"<img src='{img.name}' alt='spectrograms before, after and removed'>"
        f"<div class='players'>{''.join(players)}</div>"
    )


def write_stem_report(folder: Path, results: list, mixes: dict[Path, Path | None]) -> Path:
    """Write ``report.html`` for the files that were cleaned; ``mixes`` maps each input to its
    mixture (analysed beside it, as ``enhance`` does)."""
    done = [r for r in results if r.error is None]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>StemProver: what changed"
        f"</title><style>{STYLE} .verdict{{font-size:15px}}</style></head><body>",
        "<h1>What cleaning changed</h1>",
        "<p>No clean reference exists for your stems, so this page shows what was removed and "
        "what the artifact detector hears before and after (severity from 0, none, to 1, "
        f"severe; first {SECONDS:.0f} s of each file).</p>",
    ]
    parts += [_stem_section(folder, k, r, mixes.get(r.input)) for k, r in enumerate(done)]
    if not done:
        parts.append("<p>No file was cleaned.</p>")
    parts.append("</body></html>")
    path = folder / "report.html"
    path.write_text("\n".join(parts))
    return path
