"""`stemprover bench`: quality on a fixed held-out set and speed on 60 s of stereo 44.1 kHz.

Held-out set: synthetic songs from seeds never used for training (9001+), rendered with a
SoundFont not used for training (pretty_midi's TimGM6mb; training uses Fluid R3 GM), both
producers, every stem and artifact type. Results are written as markdown and JSON with the
command, date, machine and git revision.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from stemprover.errors import StemProverError
from stemprover.evaluation.results import (  # re-exported: the scripts import these from here
    markdown_table,
    measure,
    provenance,
    save_results,
)

HELDOUT_SEED = 9001
GROUP_ORDER = ("all", "stem:", "artifact:", "producer:", "input:")
TABLE_METRICS = (
    "si_sdr",
    "si_sdr_improvement",
    "sdr",
    "mel_snr",
    "level_db",
    "bleedless",
    "fullness",
    "phase_coherence",
)


@dataclass(frozen=True)
class BenchConfig:
    model: str = "default"
    heldout: Path = Path("data/heldout_pairs")
    songs: int = 12
    seconds: float = 8.0
    sweep: tuple[int, ...] = (0, 1, 4, 10, 25)
    sweep_pairs: int = 12
    speed_seconds: float = 60.0
    quality: bool = True
    speed: bool = True
    stage2: str = "latent"  # the bundled latent diffusion model the refiner's ablation chains


def write_test_audio(
    path: Path, seconds: float, rate: int = 44100, channels: int = 2, seed: int = 0
) -> Path:
    """Music-like test audio (harmonic notes and noise), written minute by minute."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as f:
        for start in range(0, round(seconds * rate), 60 * rate):
            n = min(60 * rate, round(seconds * rate) - start)
            t = (start + np.arange(n)) / rate
            f0 = 110 * 2 ** ((np.floor(t * 2) + 5 * seed) % 12 / 12)
            tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) * 0.15
            f.write(np.clip(tone[:, None] + 0.02 * rng.standard_normal((n, channels)), -1, 1))
    return path


def is_refiner(name_or_path: str) -> bool:
    """Whether a model (bundled name or folder) is a refiner, which does not sample."""
    from stemprover.models.base import model_kind
    from stemprover.models.refiner import KIND

    return model_kind(name_or_path) == KIND


def speed(cfg: BenchConfig) -> list[dict]:
    """Real-time factor and peak memory in the CLI's default mode (``auto`` adapters when the
    model has any): per ``--steps`` for a model that samples; memory at 1× and 3× the
    length; for a model with adapters, the default steps with ``--adapters none``; for a model
    that reads the mixture, a song folder (four stems and their mixture: song mode) at 1× and
    3× the length."""
    from stemprover.models.base import default_adapters

    mode = default_adapters(cfg.model)
    samples = not is_refiner(cfg.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = write_test_audio(Path(tmp) / "in.wav", cfg.speed_seconds)
        runs = [(s, cfg.speed_seconds, src, None) for s in (cfg.sweep if samples else [None])]
        long = write_test_audio(Path(tmp) / "long.wav", 3 * cfg.speed_seconds)
        runs.append((None, 3 * cfg.speed_seconds, long, None))
        if mode != "none":
            runs.append((None, cfg.speed_seconds, src, "none"))
        if not samples:  # the refiner reads the mixture and the other stems, at 1x and 3x
            for seconds in (cfg.speed_seconds, 3 * cfg.speed_seconds):
                song = Path(tmp) / f"song_{seconds:g}"
                song.mkdir()
                stems = [
                    write_test_audio(song / f"{name}.wav", seconds, seed=k + 1)
                    for k, name in enumerate(("vocals", "drums", "bass", "other"))
                ]
                mixture = sum(sf.read(p, dtype="float32")[0] for p in stems)
                sf.write(song / "mixture.wav", np.clip(0.5 * mixture, -1, 1), 44100, "PCM_16")
                runs.append(("song", seconds, song, None))
        for steps, seconds, path, adapters in runs:
            cmd = [
                sys.executable,
                "-m",
                "stemprover",
                "enhance",
                str(path),
                "--model",
                cfg.model,
                "-o",
                str(Path(tmp) / f"out_{steps}_{seconds:g}" / ("" if path.is_dir() else "o.wav")),
                "--device",
                "cpu",
                "--overwrite",
            ]
            if isinstance(steps, int):
                cmd += ["--steps", str(steps)]
            if adapters is not None:
                cmd += ["--adapters", adapters]
            wall, peak, out = measure(cmd)
            inner = [line for line in out.splitlines() if "RTF" in line]
            rtfs = [float(line.rsplit("RTF", 1)[1].strip(" )")) for line in inner]
            files = max(1, len(rtfs))
            rows.append(
                {
                    "steps": "default" if steps is None else steps,
                    "adapters": f"{mode} (default)" if adapters is None else adapters,
                    "audio_s": seconds,
                    "rtf_enhance": float(np.mean(rtfs)) if rtfs else float("nan"),
                    "rtf_process": wall / (seconds * files),
                    "peak_rss_mb": peak,
                }
            )
    return rows


def make_heldout(cfg: BenchConfig) -> Path:
    """The fixed held-out pairs (made once, reused)."""
    from stemprover.data.pairs import PairsConfig, build_pairs
    from stemprover.data.synth import bundled_soundfont

    if not (cfg.heldout / "manifest.jsonl").exists():
        build_pairs(
            PairsConfig(
                synthetic=cfg.songs,
                seconds=cfg.seconds,
                seed=HELDOUT_SEED,
                soundfont=bundled_soundfont(),
                split="test",
            ),
            cfg.heldout,
        )
    return cfg.heldout


def quality(cfg: BenchConfig, out: Path) -> tuple[dict, dict]:
    """Evaluate baselines and model modes on the held-out set; then the ``--steps`` sweep
    (for a model that samples)."""
    from stemprover.evaluation.run import EvalConfig, evaluate

    pairs = make_heldout(cfg)
    samples = not is_refiner(cfg.model)
    models = _latent_systems(cfg) if samples else _refiner_systems(cfg)
    baselines = ("input", "spectral-gate", "wiener", "mix-consistency", "wiener-mc")
    systems = (*baselines, *models, "oracle")
    summary = evaluate(
        EvalConfig(pairs, systems, "test"), out / "heldout_eval", models, overwrite=True
    )
    if not samples:
        return summary, {}
    # The sweep runs in the CLI's default mode, as the speed table does, so the two agree.
    from stemprover.api import EnhanceOptions, load_pipeline
    from stemprover.models.base import default_adapters

    mode = default_adapters(cfg.model)
    sweep_models = {
        f"steps={s}": load_pipeline(EnhanceOptions(cfg.model, mode, s)) for s in cfg.sweep
    }
    sweep = evaluate(
        EvalConfig(pairs, ("input", *sweep_models), "test", limit=cfg.sweep_pairs, examples=0),
        out / "sweep_eval",
        sweep_models,
        overwrite=True,
    )
    return summary, sweep


def _latent_systems(cfg: BenchConfig) -> dict:
    """The latent diffusion model's modes: its autoencoder alone, one predictive pass, the
    default sampling, the adapters, song consistency, and each without the mixture."""
    from stemprover.api import EnhanceOptions, load_pipeline
    from stemprover.evaluation.song import ConsistentSong
    from stemprover.models.base import load_model, model_adapters
    from stemprover.models.enhancer import AutoencoderRoundTrip
    from stemprover.pipeline import EnhancePipeline

    def pipe(adapters: str, steps: int | None = None):
        return load_pipeline(EnhanceOptions(cfg.model, adapters, steps))

    round_trip = AutoencoderRoundTrip(load_model(cfg.model, adapters="none"))
    models = {
        "autoencoder": EnhancePipeline(round_trip, progress=False),
        "predictive": pipe("none", steps=0),
        "diffusion": pipe("none"),
    }
    if model_adapters(cfg.model):
        models["adapters-auto"] = pipe("auto")
    default = models.get("adapters-auto", models["diffusion"])
    models["song-consistent"] = ConsistentSong(default)  # --consistent over each song
    for name in ("diffusion", "adapters-auto"):  # each mode that reads it also without --mix
        if name in models and models[name].model_reads_mixture:
            models[f"{name}-no-mix"] = _without_mixture(models[name])
    return models


def _refiner_systems(cfg: BenchConfig) -> dict:
    """The refiner's modes: song (the song's stems together with the song filter, its level
    step and the model's trust layer: the default for a song folder), the same without the
    trust layer (``--song-filter level``, where the model has one) and without the level step
    (``--song-filter wiener``), each stem with the others but no song filter
    (``--song-filter none``), mixture only, stem alone; then the ablation rows: the
    refiner followed by the latent diffusion stage (``+diffusion``) and by its ``auto``
    adapters (``+adapters``), stem by stem, as ``--steps N`` and ``--adapters`` run."""
    from stemprover.api import EnhanceOptions, load_pipeline
    from stemprover.evaluation.song import JointSong, SongMode
    from stemprover.models.base import bundled_models

    pipe = load_pipeline(EnhanceOptions(cfg.model, "none"))
    models = {
        "refiner": JointSong(pipe) if pipe.joint_song else SongMode(pipe),
        "refiner-per-stem": SongMode(pipe),
        "refiner-mix": pipe,
        "refiner-no-mix": _without_mixture(pipe),
    }
    if pipe.joint_song and getattr(pipe.model, "trust", None) is not None:
        level = load_pipeline(EnhanceOptions(cfg.model, "none", song_filter="level"))
        models["refiner-song-level"] = JointSong(level)  # without the trust layer
    if pipe.joint_song:  # the song filter without its level step
        wiener = load_pipeline(EnhanceOptions(cfg.model, "none", song_filter="wiener"))
        models["refiner-song-wiener"] = JointSong(wiener)
    if cfg.stage2 in bundled_models():
        latent = load_pipeline(EnhanceOptions(cfg.stage2, "none"))
        auto = load_pipeline(EnhanceOptions(cfg.stage2, "auto"))
        models["latent-auto"] = auto  # the previous default (0.1), for comparison
        models["refiner+diffusion"] = Chain(models["refiner-per-stem"], latent)
        models["refiner+adapters"] = Chain(models["refiner-per-stem"], auto)
    return models


class Chain:
    """``first`` (a song-mode system) and then ``second`` on its output, with the mixture."""

    wants_song = True

    def __init__(self, first, second) -> None:
        self.first, self.second = first, second

    @property
    def model_reads_mixture(self) -> bool:
        return True

    def __call__(self, audio, rate, mix=None, stem=None, song=None, siblings=()):
        y = self.first(audio, rate, mix=mix, stem=stem, song=song, siblings=siblings)
        return self.second(y, rate, mix=mix, stem=stem)


def _without_mixture(pipeline):
    """``pipeline`` as evaluated without the pairs' mixtures (``enhance`` without ``--mix``)."""
    return lambda audio, rate, mix=None, stem=None: pipeline(audio, rate, stem=stem)


def _group_key(group: str) -> tuple[int, str]:
    return next(i for i, p in enumerate(GROUP_ORDER) if group.startswith(p)), group


def _steps_key(system: str) -> int:
    """``steps=10`` -> 10, so the sweep table reads 0, 1, 4, 10, 25 and not 0, 1, 10, 25, 4."""
    return int(system.split("=")[1]) if system.startswith("steps=") else -1


def render(summary: dict, sweep: dict, speed_rows: list[dict]) -> str:
    parts = []
    if summary:
        overall = [{"system": s, **v} for s, v in summary["all"].items()]
        parts += [
            "## Quality on the held-out set (means over pairs)",
            "",
            markdown_table(overall, ["system", *TABLE_METRICS, "n"]),
            "",
        ]
        systems = list(summary["all"])
        for metric in TABLE_METRICS:
            rows = [
                {
                    "group": g,
                    **{s: summary[g].get(s, {}).get(metric, float("nan")) for s in systems},
                }
                for g in sorted(summary, key=_group_key)
            ]
            parts += [
                f"### {metric} by stem, artifact and producer",
                "",
                markdown_table(rows, ["group", *systems]),
                "",
            ]
        parts += _no_harm_table(summary, systems)
    if sweep:
        rows = [
            {"steps": s.split("=")[1], **{m: v.get(m, float("nan")) for m in TABLE_METRICS}}
            for s, v in sorted(sweep["all"].items(), key=lambda kv: _steps_key(kv[0]))
            if s != "input"
        ]
        parts += [
            "## `--steps` sweep (quality in the CLI's default mode, subset of the held-out set)",
            "",
            markdown_table(rows, ["steps", *TABLE_METRICS]),
            "",
        ]
    if speed_rows:
        parts += [
            "## Speed (CPU, stereo 44.1 kHz)",
            "",
            "`rtf_enhance`: enhance time / audio time as the CLI reports it; `rtf_process`: "
            "the whole process including start-up and model loading.",
            "",
            markdown_table(
                speed_rows,
                ["steps", "adapters", "audio_s", "rtf_enhance", "rtf_process", "peak_rss_mb"],
            ),
            "",
        ]
    return "\n".join(parts)


def _no_harm_table(summary: dict, systems: list[str]) -> list[str]:
    """Per input-quality bin: mean SI-SDR change and the share of pairs that lose > 0.5 dB."""
    bins = sorted((g for g in summary if g.startswith("input:")), key=_bin_order)
    if not bins:
        return []
    rows = []
    for g in bins:
        row = {"input SI-SDR": g.split(":", 1)[1], "pairs": summary[g]["input"]["n"]}
        for s in systems:
            stats = summary[g].get(s, {})
            change, worse = stats.get("si_sdr_improvement"), stats.get("worse_0.5db")
            row[s] = "" if change is None else f"{change:+.2f} ({100 * (worse or 0):.0f}%)"
        rows.append(row)
    return [
        "### No harm: SI-SDR change by input quality (share of pairs losing more than 0.5 dB)",
        "",
        markdown_table(rows, ["input SI-SDR", "pairs", *systems]),
        "",
    ]


def _bin_order(group: str) -> int:
    from stemprover.evaluation.run import INPUT_BINS

    names = [name for _, name in INPUT_BINS]
    return names.index(group.split(":", 1)[1])


def _previous_quality(out: Path) -> tuple[dict, dict]:
    """Quality summaries an earlier run left in ``out`` (for a speed-only rerun)."""
    found = []
    for name in ("heldout_eval", "sweep_eval"):
        path = out / name / "metrics.json"
        found.append(json.loads(path.read_text())["summary"] if path.exists() else {})
    return found[0], found[1]


def _previous_speed(out: Path) -> list[dict]:
    """The speed table an earlier run left in ``out`` (for a quality-only rerun)."""
    path = out / "bench.json"
    return json.loads(path.read_text()).get("speed", []) if path.exists() else []


def rerender(out: Path) -> Path:
    """Rewrite ``out/bench.md`` from ``out/bench.json`` (after a change to the tables), keeping
    the measured run's provenance and noting the re-rendering."""
    path = out / "bench.json"
    if not path.exists():
        raise StemProverError("no bench results to render (run `stemprover bench` first)", path)
    saved = json.loads(path.read_text())
    data = {k: saved.pop(k, {} if k != "speed" else []) for k in ("summary", "sweep", "speed")}
    saved["rendered"] = f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} from bench.json at " + str(
        provenance()["git_revision"]
    )
    markdown = render(data["summary"], data["sweep"], data["speed"])
    return save_results(out, "bench", saved, data, markdown)


def run_bench(cfg: BenchConfig, out: Path) -> Path:
    """Run the benchmark; returns the markdown file.

    Quality results are saved before the speed runs start, so a failure there loses nothing;
    with ``quality=False`` the tables of the last quality run in ``out`` are reused, with
    ``speed=False`` the speed table of the last run.
    """
    meta = provenance()
    kept_speed = [] if cfg.speed else _previous_speed(out)
    if kept_speed:
        meta["speed_from"] = f"{out}/bench.json (earlier run)"
    if cfg.quality:
        summary, sweep = quality(cfg, out)
        # per-pair rows, kept beside bench.md (the *_eval folders, with audio, are not
        # committed); a model that does not sample has no sweep, and an older one is removed
        for name, ran in (("heldout", True), ("sweep", bool(sweep))):
            kept = out / f"bench_{name}_metrics.csv"
            if ran:
                shutil.copyfile(out / f"{name}_eval" / "metrics.csv", kept)
            else:
                kept.unlink(missing_ok=True)
        save_results(
            out,
            "bench",
            meta,
            {"summary": summary, "sweep": sweep, "speed": kept_speed},
            render(summary, sweep, kept_speed),
        )
    else:
        summary, sweep = _previous_quality(out)
        meta["quality_from"] = f"{out}/heldout_eval, {out}/sweep_eval (earlier run)"
    speed_rows = speed(cfg) if cfg.speed else kept_speed
    data = {"summary": summary, "sweep": sweep, "speed": speed_rows}
    return save_results(out, "bench", meta, data, render(summary, sweep, speed_rows))
