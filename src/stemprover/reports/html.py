"""report.html: metric tables, per-band charts, spectrograms and audio players.

Self-contained folder: every image and sound is a file beside the page, linked relatively.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from stemprover.audio import io
from stemprover.audio.bands import BAND_NAMES
from stemprover.evaluation.metrics import MAIN_METRICS
from stemprover.reports.plots import band_chart, spectrograms

# The evaluation's metrics, with the improvement over the input right after SI-SDR.
TABLE_METRICS = ("si_sdr", "si_sdr_improvement", *MAIN_METRICS[1:])
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
.players{display:flex;flex-wrap:wrap;gap:1em}.players div{font-size:12px}"""


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


METRIC_HELP = {
    "si_sdr": "scale-invariant signal-to-distortion ratio to the clean reference (dB, higher is better)",
    "si_sdr_improvement": "SI-SDR of the system minus that of the input on the same pair (dB)",
    "sdr": "BSS Eval v4 SDR over the whole file (dB, higher is better)",
    "sdr_median": "median of 1 s framewise SDR, as SiSEC/museval report it (dB)",
    "mel_snr": "signal-to-noise ratio of the mel spectra (dB, higher is better)",
    "level_db": "output level relative to the clean reference (dB, 0 is right)",
    "bleedless": "how little energy the output has that the reference lacks (higher is better)",
    "fullness": "how little of the reference's energy the output misses (higher is better)",
    "phase_coherence": "agreement of the output's phase with the reference's (1 is perfect)",
    "lsd": "log-spectral distance to the reference (dB, lower is better)",
    "pesq": "PESQ-WB speech quality, vocals only (1 to 4.6, higher is better)",
    "estoi": "ESTOI speech intelligibility, vocals only (0 to 1, higher is better)",
}
UNATTAINABLE = ("oracle",)  # built from the clean reference: an upper bound, not a competitor


def winner(summary: dict) -> str:
    """In words: which system gained most SI-SDR over the input on all pairs."""
    rows = summary.get("all", {})
    gains = {
        s: v["si_sdr_improvement"]
        for s, v in rows.items()
        if s not in ("input", *UNATTAINABLE) and v.get("si_sdr_improvement") is not None
    }
    if not gains:
        return "Only the input was scored."
    best = max(gains, key=gains.get)
    line = f"Best: {best}, {gains[best]:+.2f} dB SI-SDR over the input on average"
    if gains[best] <= 0:
        line = f"No system beat the input; the closest was {best} ({gains[best]:+.2f} dB SI-SDR)"
    oracle = rows.get("oracle", {}).get("si_sdr_improvement")
    if oracle is not None:
        line += f". The oracle ({oracle:+.2f} dB) uses the clean reference: an unattainable bound"
    return line + "."


def _glossary() -> str:
    items = "".join(
        f"<li><b>{m}</b>: {html.escape(METRIC_HELP[m])}</li>"
        for m in TABLE_METRICS
        if m in METRIC_HELP
    )
    return f"<details><summary>What the columns mean</summary><ul>{items}</ul></details>"


def _label(system: str) -> str:
    return f"{system} (unattainable)" if system in UNATTAINABLE else system


def _table(group: str, systems: dict[str, dict]) -> str:
    head = "".join(f"<th>{m}</th>" for m in TABLE_METRICS)
    body = "".join(
        f"<tr><td>{html.escape(_label(s))}</td>"
        + "".join(f"<td>{_fmt(v.get(m))}</td>" for m in TABLE_METRICS)
        + f"<td>{v.get('n', '')}</td></tr>"
        for s, v in systems.items()
    )
    return f"<h3>{html.escape(group)}</h3><table><tr><th>system</th>{head}<th>n</th></tr>{body}</table>"


def write_report(
    folder: Path, summary: dict, examples: list, rows: list[dict] | None = None
) -> Path:
    """Write report.html and its figures and sounds into ``folder``."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>StemProver evaluation</title>"
        f"<style>{STYLE}</style></head><body><h1>StemProver evaluation</h1>",
        f"<p class='verdict'><b>{html.escape(winner(summary))}</b></p>",
        "<p>Means over pairs; <i>improvement</i> is system minus input on the same pair.</p>",
        _glossary(),
    ]
    for group in sorted(summary, key=lambda g: (g != "all", g)):
        if group != "all" and summary[group] == summary.get("all"):
            continue  # the same pairs as "all": the table would repeat it
        parts.append(_table(group, summary[group]))
    if rows:
        parts.append("<h2>Per band</h2>")
        for metric in ("lsd", "phase_coherence"):
            values = _band_means(rows, metric)
            if values:
                band_chart(
                    values, f"{metric} per band (mean over pairs)", folder / f"bands_{metric}.png"
                )
                parts.append(f"<img src='bands_{metric}.png' alt='{metric} per band'>")
    parts.append("<h2>Examples</h2>")
    for k, (rec, ref, art, estimates) in enumerate(examples):
        parts.append(_example(folder, k, rec, ref, art, estimates))
    parts.append("</body></html>")
    path = folder / "report.html"
    path.write_text("\n".join(parts))
    return path


def _band_means(rows: list[dict], metric: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for system in dict.fromkeys(r["system"] for r in rows):
        sel = [r for r in rows if r["system"] == system]
        bands = {
            b: float(np.nanmean([r[f"{metric}_{b}"] for r in sel if f"{metric}_{b}" in r]))
            for b in BAND_NAMES
            if any(f"{metric}_{b}" in r for r in sel)
        }
        if bands:
            out[system] = bands
    return out


def _example(folder: Path, k: int, rec: dict, ref, art, estimates: dict) -> str:
    rate = rec["sample_rate"]
    # The first system that is not a baseline (the model), else the best classical one.
    baselines = ("input", "spectral-gate", "wiener", "oracle")
    shown = next((s for s in estimates if s not in baselines), None)
    shown = shown or next(
        (s for s in ("wiener", "spectral-gate", "oracle") if s in estimates), "input"
    )
    out = estimates[shown]
    img = spectrograms(
        {
            "reference (clean)": ref,
            "input (artifacted)": art,
            f"output ({shown})": out,
            "difference (output - reference)": out - ref,
        },
        rate,
        folder / f"ex{k}.png",
    )
    sounds = {
        "reference": ref,
        "input": art,
        **{s: e for s, e in estimates.items() if s != "input"},
    }
    players = []
    for name, audio in sounds.items():
        fname = f"ex{k}_{name}.flac"
        io.write(folder / fname, np.clip(audio, -1, 1), rate, "PCM_16", overwrite=True)
        players.append(
            f"<div>{html.escape(name)}<br><audio controls preload='none' src='{fname}'></audio></div>"
        )
    title = f"{rec['id']} — {rec['stem']}, {rec['producer']}: " + ", ".join(
        f"{a} {s:.2f}" for a, s in sorted(rec["artifacts"].items())
    )
    return (
        f"<h3>{html.escape(title)}</h3><img src='{img.name}' alt='spectrograms'>"
        f"<div class='players'>{''.join(players)}</div>"
    )
