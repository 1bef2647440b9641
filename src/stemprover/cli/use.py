"""The commands a user of separated stems runs: enhance, analyze, models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stemprover.cli.common import ADAPTERS_HELP, EXIT_FAILED, EXIT_OK
from stemprover.cli.common import error as _error
from stemprover.errors import StemProverError
from stemprover.outputs import check_writable, protect
from stemprover.vocabulary import CLIP_MODES, DEVICES, OUTPUT_FORMATS, SEPARATED_STEMS

# -- enhance -----------------------------------------------------------------------------


def _enhance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="IN",
        help="stem files, a separator's song folder (e.g. separated/htdemucs/song) or a tree "
        "of song folders",
    )
    p.add_argument("-o", "--output", type=Path, help="output file (one input) or folder")
    p.add_argument(
        "--mix",
        type=Path,
        help="the mixture the inputs were separated from (one song); a song folder's own "
        "mixture.* or SONG.* beside SONG_(Stem).* is found without it",
    )
    p.add_argument(
        "--mix-dir",
        type=Path,
        help="folder of mixtures for a tree of songs: song folder NAME takes DIR/NAME.*",
    )
    p.add_argument(
        "--consistent",
        action="store_true",
        help="make each song's cleaned stems sum to its mixture (needs all of its stems)",
    )
    p.add_argument(
        "--song-filter",
        default="trust",
        choices=["trust", "level", "wiener", "none"],
        help="song mode (a song's stems and mixture): wiener enhances them together and "
        "shares the mixture out between the stems where the model corrected them; level "
        "then gives the stems back the level and quiet detail masking takes; trust "
        "(default) then lets the model's trust layer blend each stem's input, classical "
        "estimate and output band by band by how good it estimates the stem (level when the "
        "model has none); none: each stem on its own",
    )
    p.add_argument(
        "--no-extend-highs",
        dest="extend_highs",
        action="store_false",
        help="without a mixture, leave a band-limited stem's empty highs empty (default: "
        "the default model fills them by band replication, 15 dB under the extrapolated "
        "envelope)",
    )
    p.add_argument(
        "--filename",
        metavar="TEMPLATE",
        help="output names inside -o, e.g. '{song}/{stem}.{ext}' (fields: song, stem, type, "
        "ext); default: the inputs' own names",
    )
    p.add_argument(
        "--format", dest="fmt", choices=OUTPUT_FORMATS, help="output format (default: the input's)"
    )
    p.add_argument(
        "--subtype", help="output sample format, e.g. PCM_16, PCM_24, FLOAT (default: the input's)"
    )
    p.add_argument(
        "--clip-mode",
        default="clamp",
        choices=CLIP_MODES,
        help="samples over full scale: clamp them, rescale the file, or leave them (a warning "
        "says when it happens)",
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write DIR/report.html: before/after spectrograms, what was removed, players, "
        "the artifacts detected before and after",
    )
    p.add_argument("--model", default="default", help="bundled model name, null, or a folder")
    p.add_argument("--adapters", help=ADAPTERS_HELP)
    p.add_argument(
        "--stem",
        default="auto",
        choices=["auto", "unknown", *SEPARATED_STEMS],
        help="the inputs' stem type, for --adapters auto (auto: from each file's name)",
    )
    p.add_argument("--steps", type=int, help="denoising steps; 0 = predictive single pass")
    p.add_argument("--strength", type=float, help="img2img strength in (0, 1]")
    p.add_argument("--seed", type=int, help="noise seed (same seed, same output)")
    p.add_argument("--scheduler", choices=["ddim", "dpm++"], help="diffusers sampler")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--segment", type=float, default=8.0, metavar="SEC", help="segment length")
    p.add_argument("--overlap", type=float, default=0.5, metavar="SEC", help="crossfade length")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or per-file lines")


def _enhance(args: argparse.Namespace) -> int:
    from stemprover.audio.chunking import SegmentConfig
    from stemprover.vocabulary import parse_adapters

    # Everything that can be checked without the model is checked before it loads
    # (files and mixtures: in enhance_files, before it loads the model).
    protect([*args.inputs, args.mix, args.mix_dir])
    if args.report is not None:
        from stemprover.outputs import check_destination

        check_destination(args.report)
    if args.adapters is not None:
        parse_adapters(args.adapters)
    try:
        segment = SegmentConfig(seconds=args.segment, overlap=args.overlap)
    except ValueError as err:
        raise StemProverError(str(err)) from None
    if args.device != "auto":
        from stemprover.pipeline import resolve_device

        resolve_device(args.device)

    from stemprover.api import EnhanceOptions, enhance_files
    from stemprover.songs import WriteOptions

    options = EnhanceOptions(
        args.model,
        args.adapters,
        args.steps,
        args.strength,
        args.seed,
        args.scheduler,
        args.device,
        segment,
        song_filter=args.song_filter,
        extend_highs=args.extend_highs,
    )
    batch = enhance_files(
        args.inputs,
        args.output,
        options,
        mix=args.mix,
        mix_dir=args.mix_dir,
        filename=args.filename,
        fmt=args.fmt,
        stem=None if args.stem == "unknown" else args.stem,
        write=WriteOptions(args.subtype, args.overwrite, args.clip_mode, args.consistent),
        progress=not args.quiet,
        on_file=lambda f: _print_file(f, args.quiet),
        report=args.report,
    )
    for note in batch.notes if not args.quiet else ():
        print(f"stemprover: note: {note}", file=sys.stderr)
    if args.report is not None and not args.quiet:
        print(f"report: {args.report / 'report.html'}")
    if batch.failed:
        _error(f"{len(batch.failed)} of {len(batch.files)} files failed")
        return EXIT_FAILED
    return EXIT_OK


def _print_file(f, quiet: bool) -> None:
    """One file's outcome, as soon as it is done."""
    for warning in f.warnings:
        print(f"stemprover: warning: {f.input}: {warning}", file=sys.stderr)
    if f.error is not None:
        _error(f"{f.input}: {f.error}")
        return
    if quiet:
        return
    if f.adapters is not None:
        chosen = ", ".join(f"{k}={v:.2f}" for k, v in f.adapters.items())
        print(f"{f.input}: stem {f.stem or 'unknown'}, adapters {chosen}")
    rtf = f.seconds / max(f.audio_seconds, 1e-9)
    print(f"{f.input} -> {f.output}  ({f.audio_seconds:.1f} s audio, RTF {rtf:.3f})")


# -- analyze -----------------------------------------------------------------------------


def _analyze_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="stem to analyze")
    p.add_argument("--mix", type=Path, help="the mixture it was separated from (better verdicts)")
    p.add_argument("--json", type=Path, help="write the full report (bands, time) as JSON")
    p.add_argument("--plot", type=Path, help="write a PNG of severity over time and per band")
    p.add_argument(
        "--detector",
        default="auto",
        help="auto (the bundled learned detector), heuristic, or a detector folder",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing --json/--plot files")


def _analyze(args: argparse.Namespace) -> int:
    protect([args.file, args.mix])
    for out in (args.json, args.plot):
        if out is not None:
            check_writable(out, args.overwrite)
    from stemprover.analysis import analyze
    from stemprover.audio import io
    from stemprover.audio.stft import ANALYSIS_STFT

    stem, info = io.read(args.file, "float64")
    mix = None
    if args.mix is not None:
        mix, mix_info = io.read(args.mix, "float64")
        if (mix_info.sample_rate, mix.shape) != (info.sample_rate, stem.shape):
            raise StemProverError(
                "mixture must match the stem's rate, channels and length", args.mix
            )
    if info.frames < ANALYSIS_STFT.n_fft:  # one frame of the analysis STFT
        raise StemProverError(
            f"too short to analyze ({info.frames} samples; at least {ANALYSIS_STFT.n_fft})",
            args.file,
        )
    if not stem.any():
        raise StemProverError("digital silence: there is nothing to analyze", args.file)
    report = analyze(stem, info.sample_rate, mix, args.detector)
    from stemprover.vocabulary import ARTIFACT_WORDS, BAND_HZ, severity_word

    print(f"{'artifact':16s} severity          where it is worst")
    for name, r in sorted(report.items(), key=lambda kv: -kv[1]["score"]):
        worst = max(r["bands"], key=r["bands"].get)
        word = ARTIFACT_WORDS.get(name, name)
        print(
            f"{word:16s} {severity_word(r['score']):8s} ({r['score']:.2f})   "
            f"worst in {worst} ({BAND_HZ.get(worst, '')})"
        )
    if args.json:
        with io.atomic_path(args.json, overwrite=args.overwrite) as tmp:
            tmp.write_text(
                json.dumps(
                    {
                        "file": str(args.file),
                        "mix": str(args.mix) if args.mix else None,
                        "artifacts": report,
                    },
                    indent=1,
                )
            )
    if args.plot:
        from stemprover.reports.plots import analysis_plot

        with io.atomic_path(args.plot, overwrite=args.overwrite) as tmp:
            analysis_plot(report, tmp)
    return EXIT_OK


# -- models ------------------------------------------------------------------------------


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", type=Path, help="also list models in these folders")


def _models(args: argparse.Namespace) -> int:
    from stemprover.models.base import BUILTIN_MODELS, bundled_models, model_config

    for name in BUILTIN_MODELS:
        print(f"{name} (built-in): the identity; runs the whole path and gives the input back")
    found = {f"{k} (bundled)": v for k, v in bundled_models().items()}
    for root in args.paths:
        found.update(
            {
                str(p.parent): p.parent
                for p in sorted(root.rglob("config.json"))
                if model_config(p.parent) is not None
            }
        )
    for name, folder in found.items():
        _describe_model(name, folder)
    return EXIT_OK


def _describe_model(name: str, folder: Path) -> None:
    """What a model is for, what it was trained on, its size, and its adapters."""
    from stemprover.models import lora
    from stemprover.models.base import model_adapters, model_config
    from stemprover.vocabulary import ARTIFACT_WORDS

    size = (folder / "model.safetensors").stat().st_size / 1e6
    about = {}
    if (folder / "about.json").exists():
        about = json.loads((folder / "about.json").read_text())
    config = model_config(folder)
    reads = config.get("denoiser", {}).get("mixture") or config.get("mixture")
    what = ", reads the mixture (--mix)" if reads else ""
    if reads and config.get("siblings"):
        what += " and a song folder's other stems"
    print(f"{name}: {folder} ({size:.1f} MB){what}")
    print(f"  for: {about.get('purpose', 'an enhancement model trained with stemprover train')}")
    if "trained_on" in about:
        print(f"  trained on: {about['trained_on']}")
    for adapter, path in model_adapters(folder).items():
        info = lora.adapter_info(path)
        kb = (path / "adapter.safetensors").stat().st_size / 1e3
        stems = ", ".join(info.stems) if info.stems else "every stem type"
        word = ARTIFACT_WORDS.get(info.artifact, info.artifact)
        print(f"  adapter {adapter}: removes {word} on {stems} ({kb:.0f} KB)")
