"""Figures for reports: spectrogram panels and per-band charts (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def spectrograms(
    panels: dict[str, np.ndarray], rate: int, path: Path, colorbar: bool = False
) -> Path:
    """One row per panel (mono mix of each ``(C, T)`` signal); the last may be a difference.
    ``colorbar`` adds each panel's scale in dB."""
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.1 * len(panels)), sharex=True)
    for ax, (title, x) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        *_, image = ax.specgram(
            x.mean(axis=0) + 1e-12,
            NFFT=2048,
            Fs=rate,
            noverlap=1536,
            cmap="magma",
            vmin=-130,
            vmax=-20,
        )
        if colorbar:
            fig.colorbar(image, ax=ax, label="dB", pad=0.01)
        ax.set_ylim(0, min(rate / 2, 16000))
        ax.set_ylabel("Hz")
        ax.set_title(title, fontsize=9, loc="left")
    np.atleast_1d(axes)[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def band_chart(values: dict[str, dict[str, float]], metric: str, path: Path) -> Path:
    """Grouped bars: ``values[system][band]`` for one per-band metric."""
    plt = _plt()
    systems = list(values)
    bands = list(next(iter(values.values())))
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(9, 3))
    for k, system in enumerate(systems):
        ax.bar(
            np.arange(len(bands)) + k * width,
            [values[system][b] for b in bands],
            width,
            label=system,
        )
    ax.set_xticks(np.arange(len(bands)) + 0.4 - width / 2, bands, fontsize=8)
    ax.set_title(metric, fontsize=9, loc="left")
    ax.legend(fontsize=7, ncol=len(systems))
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def analysis_plot(report: dict, path: Path) -> Path:
    """Severity over time (left) and per band (right) for each artifact type."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    for name, r in report.items():
        left.plot(np.arange(len(r["time"])), r["time"], label=name)
    left.set_xlabel("seconds")
    left.set_ylabel("severity (0 none, 1 severe)")
    left.set_ylim(0, 1)
    left.set_title("over time", fontsize=9, loc="left")
    bands = list(next(iter(report.values()))["bands"])
    width = 0.8 / len(report)
    for k, (name, r) in enumerate(report.items()):
        right.bar(
            np.arange(len(bands)) + k * width, [r["bands"][b] for b in bands], width, label=name
        )
    from stemprover.vocabulary import ARTIFACT_WORDS, BAND_HZ

    labels = [BAND_HZ.get(b, b) for b in bands]
    right.set_xticks(np.arange(len(bands)) + 0.4 - width / 2, labels, fontsize=7, rotation=30)
    right.set_ylim(0, 1)
    right.set_title("per band", fontsize=9, loc="left")
    handles, names = left.get_legend_handles_labels()
    fig.legend(
        handles,
        [ARTIFACT_WORDS.get(n, n) for n in names],
        fontsize=8,
        loc="upper center",
        ncol=len(names),
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=72, format="png")
    plt.close(fig)
    return path
