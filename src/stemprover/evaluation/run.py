"""Evaluation runs: systems over pairs, scored, aggregated, written as CSV, JSON and HTML."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stemprover.audio import io
from stemprover.data.manifest import read_manifest
from stemprover.errors import StemProverError
from stemprover.evaluation.baselines import BASELINES, SONG_BASELINES, Inputs
from stemprover.evaluation.metrics import HARM_DB, MAIN_METRICS, Views, score
from stemprover.outputs import check_folder_writable


@dataclass(frozen=True)
class EvalConfig:
    """Attributes:
    pairs: A pairs folder.
    systems: Baseline names and/or ``model``.
    split: Which split to score (``all`` for every pair).
    limit: Score at most this many pairs (0: all).
    examples: How many pairs get spectrograms and players in the report.
    mixture: Give models each pair's mixture (as ``enhance --mix`` does); baselines that
        need it (Wiener, oracle) always get it.
    stems: Score only pairs of these stem types (empty: all).
    """

    pairs: Path
    systems: tuple[str, ...] = ("input", "spectral-gate", "wiener", "oracle")
    split: str = "test"
    limit: int = 0
    examples: int = 4
    mixture: bool = True
    stems: tuple[str, ...] = ()


def _select(cfg: EvalConfig, records: list[dict] | None = None) -> list[dict]:
    records = read_manifest(cfg.pairs) if records is None else records
    chosen = [r for r in records if cfg.split in ("all", r["split"])]
    if not chosen:
        hint = "" if cfg.split == "all" else " (try --split all)"
        raise StemProverError(f"no pairs in split {cfg.split!r}{hint}", cfg.pairs)
    if cfg.stems:
        chosen = [r for r in chosen if r["stem"] in cfg.stems]
        if not chosen:
            raise StemProverError(
                f"no {'/'.join(cfg.stems)} pairs in split {cfg.split!r}", cfg.pairs
            )
    return chosen[: cfg.limit] if cfg.limit else chosen


def evaluate(
    cfg: EvalConfig,
    out: Path,
    models: dict[str, Callable[..., np.ndarray]] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Score every system on the chosen pairs; write metrics.csv, metrics.json, report.html.

    Args:
        models: Systems beyond the baselines, by name, e.g. ``{"model": EnhancePipeline(...)}``;
            each maps ``(C, T), rate, mix=(C, T) or None, stem=type -> (C, T)`` (the
            pair's stem type, which ``--adapters auto`` routes by).

    Returns:
        The aggregate table written to metrics.json.
    """
    models = models or {}
    unknown = [s for s in cfg.systems if s not in BASELINES and s not in models]
    if unknown:
        hint = " ('model' needs --model)" if "model" in unknown else ""
        raise StemProverError(
            f"unknown systems {unknown}; choose from {[*BASELINES, *models]}{hint}"
        )
    check_folder_writable(Path(out), overwrite)  # refused before the work, not after
    manifest = read_manifest(cfg.pairs)
    records = _select(cfg, manifest)
    by_song: dict[str, list[dict]] = defaultdict(list)
    for rec in manifest:
        by_song[rec["song"]].append(rec)
    # Song-level systems read the song's other stems; each is read once per song.
    wants_song = any(
        s in SONG_BASELINES or getattr(models.get(s), "wants_song", False) for s in cfg.systems
    )
    song_stems: dict[str, np.ndarray] = {}
    rows, examples = [], []
    for k, rec in enumerate(tqdm(records, desc="evaluate", unit="pair", disable=not progress)):
        ref, art, mix = _read_pair(cfg.pairs, rec)
        others = [
            r for r in by_song[rec["song"]] if r["id"] != rec["id"] and r["split"] == rec["split"]
        ]
        if not wants_song:
            others = []
        if others and not set(song_stems) & {r["id"] for r in others}:
            song_stems.clear()  # a new song
        song_stems[rec["id"]] = art
        for r in others:
            if r["id"] not in song_stems:
                song_stems[r["id"]] = io.read(cfg.pairs / r["artifacted"], "float64")[0]
        siblings = [song_stems[r["id"]] for r in others]
        inputs = Inputs(art, mix, ref, rec["sample_rate"], tuple(siblings))
        ref_views = Views(ref, inputs.rate)  # the reference's spectra, shared by all systems
        estimates = {}
        for system in cfg.systems:
            if system in models:
                song = {}
                if getattr(models[system], "wants_song", False):  # song mode: the siblings too
                    song = {
                        "song": rec["song"],
                        "siblings": [(x, r["stem"]) for x, r in zip(siblings, others, strict=True)],
                    }
                est = models[system](
                    art, inputs.rate, mix=mix if cfg.mixture else None, stem=rec["stem"], **song
                )
            else:
                est = BASELINES[system](inputs)
            estimates[system] = est
            flat = score(ref_views, est, inputs.rate, vocals=rec["stem"] == "vocals").flat()
            rows.append(
                {
                    "pair_id": rec["id"],
                    "stem": rec["stem"],
                    "producer": rec["producer"],
                    "artifacts": "+".join(sorted(rec["artifacts"])),
                    "system": system,
                    **flat,
                }
            )
        if k < cfg.examples:
            examples.append((rec, ref, art, estimates))
    summary = aggregate(rows, records)
    from stemprover.reports.html import write_report

    with io.atomic_dir(out, overwrite) as tmp:
        _write_csv(tmp / "metrics.csv", rows)
        (tmp / "metrics.json").write_text(
            json.dumps(json_safe({"rows": rows, "summary": summary}), indent=1, allow_nan=False)
            + "\n"
        )
        write_report(tmp, summary, examples, rows)
    return summary


def _read_pair(folder: Path, rec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A pair's reference, artifacted stem and mixture, checked against each other.

    Raises:
        StemProverError: a file whose rate differs from the manifest's, or whose channels
            or length differ from the reference's.
    """
    keys = ("clean", "artifacted", "mixture") if rec.get("mixture") else ("clean", "artifacted")
    audio = {}
    for key in keys:
        x, info = io.read(folder / rec[key], "float64")
        if info.sample_rate != rec["sample_rate"]:
            raise StemProverError(
                f"sample rate {info.sample_rate} Hz, but the manifest says "
                f"{rec['sample_rate']} Hz for pair {rec['id']}",
                info.path,
            )
        if key != "clean" and x.shape != audio["clean"].shape:
            raise StemProverError(
                f"{x.shape[0]} channels x {x.shape[1]} samples, but the reference of pair "
                f"{rec['id']} has {audio['clean'].shape[0]} x {audio['clean'].shape[1]}",
                info.path,
            )
        audio[key] = x
    return audio["clean"], audio["artifacted"], audio.get("mixture")


def split_records(folder: Path, split: str = "test") -> tuple[list[dict], dict[str, list[dict]]]:
    """The manifest records of ``split`` in manifest order, and the same records by song."""
    records = [r for r in read_manifest(folder) if r["split"] == split]
    by_song: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_song[r["song"]].append(r)
    return records, dict(by_song)


def song_pairs(folder: Path, split: str = "test"):
    """Each pair of ``split`` with its audio and its song's other artifacted stems, as song
    mode reads them: yields ``(record, clean, artifacted, mixture, siblings)``, float64
    ``(C, T)`` arrays (``siblings`` a list, empty for a song of one stem; ``mixture`` ``None``
    where the pair has none). For experiments that score systems pair by pair."""
    records, by_song = split_records(folder, split)
    for rec in records:
        clean, art, mix = _read_pair(folder, rec)
        others = [o for o in by_song[rec["song"]] if o["id"] != rec["id"]]
        sibs = [io.read(folder / o["artifacted"], "float64")[0] for o in others]
        yield rec, clean, art, mix, sibs


def gain_table(gains: dict, names: Sequence[str], harm_db: float = HARM_DB) -> str:
    """Markdown: per group, each system's mean SI-SDR change and the share of pairs losing
    more than ``harm_db``. ``gains``: ``{group: {system: [change per pair]}}``; groups in the
    order all, input bins, stem types, then the rest sorted."""
    first = ["all", *(name for _, name in INPUT_BINS), "vocals", "drums", "bass", "other"]
    keys = [k for k in first if k in gains] + sorted(k for k in gains if k not in first)
    lines = ["| group | n | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for key in keys:
        row = gains[key]
        cells = [
            f"{np.nanmean(row[n]):+.2f} ({np.mean(np.array(row[n]) < -harm_db):.0%})" for n in names
        ]
        lines.append(f"| {key} | {len(row[names[0]])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def json_safe(obj):
    """NaN/Inf (silent references, PESQ without speech) become null: strict JSON parsers
    reject the NaN tokens ``json.dumps`` writes by default."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


INPUT_BINS = ((5.0, "<5 dB"), (10.0, "5-10 dB"), (15.0, "10-15 dB"), (math.inf, ">=15 dB"))


def song_audio(folder: Path, split: str = "test"):
    """Each song of ``split`` as song mode reads it: yields ``(records, mixture, rate,
    artifacted, clean)``, the song's manifest records and float64 ``(C, T)`` arrays (the
    stems as lists in the records' order). For experiments that run whole songs."""

    def read(rel: str) -> np.ndarray:
        return io.read(folder / rel, "float64")[0]

    for recs in split_records(folder, split)[1].values():
        yield (
            recs,
            read(recs[0]["mixture"]),
            recs[0]["sample_rate"],
            [read(r["artifacted"]) for r in recs],
            [read(r["clean"]) for r in recs],
        )


def input_bin(si_sdr: float) -> str:
    """The input-quality bin of a pair, by the artifacted stem's SI-SDR."""
    return next(name for top, name in INPUT_BINS if si_sdr < top)


def aggregate(rows: Sequence[dict], records: Sequence[dict]) -> dict:
    """Mean of each metric and its improvement over ``input``, by system and by group.

    Groups: ``all``, ``stem:<type>``, ``artifact:<type>`` (a pair counts in every artifact
    type it has), ``producer:<name>``. NaN scores (silent references, PESQ without speech)
    are left out of means, and ``n_missing`` counts them.
    """
    by_pair = {r["id"]: r for r in records}
    base = {
        (r["pair_id"], m): r.get(m) for r in rows if r["system"] == "input" for m in MAIN_METRICS
    }
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        rec = by_pair[row["pair_id"]]
        keys = [
            "all",
            f"stem:{rec['stem']}",
            f"producer:{rec['producer']}",
            *(f"artifact:{a}" for a in rec["artifacts"]),
        ]
        start = base.get((row["pair_id"], "si_sdr"))
        if start is not None and math.isfinite(start):
            keys.append(f"input:{input_bin(start)}")
        for metric in MAIN_METRICS:
            value = row.get(metric)
            for key in keys:
                bucket = groups[(key, row["system"])]
                if value is None or not math.isfinite(value):
                    bucket[f"{metric}_missing"].append(1.0)
                    continue
                bucket[metric].append(value)
                ref = base.get((row["pair_id"], metric))
                if ref is not None and math.isfinite(ref):
                    bucket[f"{metric}_improvement"].append(value - ref)
    out: dict = defaultdict(dict)
    for (group, system), values in sorted(groups.items()):
        stats = {k: float(np.mean(v)) for k, v in values.items() if not k.endswith("_missing")}
        gains = values.get("si_sdr_improvement", [])
        if gains:  # the no-harm rule: how many pairs lose more than half a decibel
            stats["worse_0.5db"] = float(np.mean(np.array(gains) < -HARM_DB))
        stats.update({k: len(v) for k, v in values.items() if k.endswith("_missing")})
        stats["n"] = len(values.get("si_sdr", []))  # scored pairs; si_sdr_missing the others
        out[group][system] = stats
    return dict(out)
