"""The `stemprover` command line: each subcommand parses, calls one library function, and
returns an exit code. Failures are one line on stderr."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stemprover.errors import StemProverError
from stemprover.outputs import Terminated, check_writable, protect, protecting
from stemprover.version import __version__
from stemprover.vocabulary import DEVICES, PRODUCERS, SPLITS, STEM_TYPES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _error(message: str) -> None:
    print(f"stemprover: error: {message}", file=sys.stderr)


# -- enhance -----------------------------------------------------------------------------

ADAPTERS_HELP = (
    "none, auto, a,b or a=0.7,b=0.3 (default: auto when the model has adapters, else none)"
)


def _enhance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="audio files or folders")
    p.add_argument("-o", "--output", type=Path, help="output file (one input) or folder")
    p.add_argument(
        "--model", default="default", help="bundled model name, `null`, or a model folder"
    )
    p.add_argument("--adapters", help=ADAPTERS_HELP)
    p.add_argument(
        "--mix",
        type=Path,
        help="the mixture the stem was separated from (one input file): read by models "
        "trained with it and by --adapters auto",
    )
    p.add_argument(
        "--stem",
        default="auto",
        choices=["auto", "unknown", *STEM_TYPES],
        help="the inputs' stem type, for --adapters auto's per-stem adapters (default: from "
        "each file's name, e.g. drums.wav; unknown when the name says none)",
    )
    p.add_argument("--steps", type=int, help="denoising steps; 0 = predictive single pass")
    p.add_argument("--strength", type=float, help="img2img strength in (0, 1]")
    p.add_argument("--seed", type=int, help="noise seed (same seed, same output)")
    p.add_argument("--scheduler", choices=["ddim", "dpm++"], help="diffusers sampler")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--segment", type=float, default=8.0, metavar="SEC", help="segment length")
    p.add_argument("--overlap", type=float, default=0.5, metavar="SEC", help="crossfade length")
    p.add_argument("--subtype", help="output sample format, e.g. PCM_16, PCM_24, FLOAT")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _enhance(args: argparse.Namespace) -> int:
    from stemprover.audio.chunking import SegmentConfig
    from stemprover.vocabulary import parse_adapters

    # Everything that can be checked without the model is checked before it loads.
    protect([*args.inputs, args.mix])
    if args.adapters is not None:
        parse_adapters(args.adapters)
    try:
        segment = SegmentConfig(seconds=args.segment, overlap=args.overlap)
    except ValueError as err:
        raise StemProverError(str(err)) from None
    if args.mix is not None:
        from stemprover.audio import io

        io.probe(args.mix)

    from stemprover.api import EnhanceOptions, enhance_files

    options = EnhanceOptions(
        args.model,
        args.adapters,
        args.steps,
        args.strength,
        args.seed,
        args.scheduler,
        args.device,
        segment,
    )
    batch = enhance_files(
        args.inputs,
        args.output,
        options,
        mix=args.mix,
        stem=None if args.stem == "unknown" else args.stem,
        subtype=args.subtype,
        overwrite=args.overwrite,
        progress=not args.quiet,
        on_file=lambda f: _print_file(f, args.quiet),
    )
    for note in batch.notes if not args.quiet else ():
        print(f"stemprover: note: {note}", file=sys.stderr)
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
    if f.adapters is not None:
        chosen = ", ".join(f"{k}={v:.2f}" for k, v in f.adapters.items())
        print(f"{f.input}: stem {f.stem or 'unknown'}, adapters {chosen}")
    if not quiet:
        rtf = f.seconds / max(f.audio_seconds, 1e-9)
        print(f"{f.input} -> {f.output}  ({f.audio_seconds:.1f} s audio, RTF {rtf:.3f})")


# -- pairs -------------------------------------------------------------------------------


def _pairs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="pairs folder to create")
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help="synthetic songs")
    p.add_argument("--seconds", type=float, default=10.0, help="song or excerpt length")
    p.add_argument("--multitrack", type=Path, help="MUSDB18-style folder of real stems")
    p.add_argument(
        "--producer",
        action="append",
        metavar="NAME[=W]",
        help=f"{', '.join(PRODUCERS)}, with an optional weight; repeatable "
        "(default: simulate and mask equally)",
    )
    p.add_argument("--artifacts", help="comma-separated artifact types for simulate (default: all)")
    p.add_argument("--severity", default="0.1,1.0", metavar="LO,HI", help="severity range")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--soundfont", type=Path, help="SoundFont (.sf2) for synthetic songs")
    p.add_argument(
        "--separator", type=Path, help="trained umx separator folder (default: the bundled one)"
    )
    p.add_argument("--rate", type=int, default=44100)
    p.add_argument("--split", choices=SPLITS, help="put every song in one split")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")


def _pairs(args: argparse.Namespace) -> int:
    protect([args.multitrack, args.soundfont, args.separator])
    from stemprover.data.pairs import PairsConfig, build_pairs
    from stemprover.vocabulary import ARTIFACTS

    producers = {}
    for item in args.producer or ["simulate", "mask"]:
        name, _, weight = item.partition("=")
        try:
            producers[name] = float(weight or 1.0)
        except ValueError:
            raise StemProverError(f"bad producer weight in {item!r}") from None
    try:
        lo, hi = (float(v) for v in args.severity.split(","))
    except ValueError:
        raise StemProverError(f"--severity takes LO,HI, got {args.severity!r}") from None
    cfg = PairsConfig(
        synthetic=args.synthetic,
        seconds=args.seconds,
        multitrack=args.multitrack,
        producers=producers,
        artifacts=tuple(args.artifacts.split(",")) if args.artifacts else ARTIFACTS,
        severity=(lo, hi),
        seed=args.seed,
        soundfont=args.soundfont,
        rate=args.rate,
        split=args.split,
        separator=args.separator,
    )
    manifest = build_pairs(cfg, args.out, args.overwrite, not args.quiet)
    count = len(manifest.read_text().splitlines())
    print(f"{count} pairs -> {manifest}")
    return EXIT_OK


# -- evaluate ----------------------------------------------------------------------------


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pairs", type=Path, required=True, help="pairs folder (from `pairs`)")
    p.add_argument("--out", type=Path, required=True, help="folder for metrics and report")
    p.add_argument(
        "--systems",
        default="input,spectral-gate,wiener,oracle",
        help="comma-separated: input, spectral-gate, wiener, oracle, model",
    )
    p.add_argument("--model", help="model for the `model` system (added to --systems)")
    p.add_argument("--adapters", help=ADAPTERS_HELP)
    p.add_argument("--split", default="test", choices=[*SPLITS, "all"])
    p.add_argument("--limit", type=int, default=0, help="at most N pairs")
    p.add_argument("--examples", type=int, default=4, help="pairs shown in the report")
    p.add_argument(
        "--no-mix",
        dest="mixture",
        action="store_false",
        help="do not give the model each pair's mixture (as `enhance` without --mix)",
    )
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")


def _evaluate(args: argparse.Namespace) -> int:
    protect([args.pairs])
    from stemprover.outputs import check_destination

    check_destination(args.out)  # the pairs folder (or a folder inside it) is refused
    from stemprover.evaluation.run import EvalConfig, evaluate

    systems = tuple(s for s in args.systems.split(",") if s)
    models = {}
    if args.model:
        from stemprover.api import EnhanceOptions, load_pipeline

        options = EnhanceOptions(args.model, args.adapters, device=args.device)
        models["model"] = load_pipeline(options)
        systems = (*systems, "model") if "model" not in systems else systems
    cfg = EvalConfig(args.pairs, systems, args.split, args.limit, args.examples, args.mixture)
    summary = evaluate(cfg, args.out, models, args.overwrite, not args.quiet)
    for system, stats in summary["all"].items():
        unscored = stats.get("si_sdr_missing", 0)
        note = f", {unscored} unscored: silent reference" if unscored else ""
        print(
            f"{system:14s} SI-SDR {stats.get('si_sdr', float('nan')):6.2f} dB  "
            f"improvement {stats.get('si_sdr_improvement', float('nan')):+6.2f} dB  "
            f"(n={stats['n']}{note})"
        )
    print(f"report: {args.out / 'report.html'}")
    return EXIT_OK


# -- analyze -----------------------------------------------------------------------------

ANALYSIS_MIN_FRAMES = 2048  # one frame of the analysis STFT


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

    stem, info = io.read(args.file, "float64")
    mix = None
    if args.mix is not None:
        mix, mix_info = io.read(args.mix, "float64")
        if (mix_info.sample_rate, mix.shape) != (info.sample_rate, stem.shape):
            raise StemProverError(
                "mixture must match the stem's rate, channels and length", args.mix
            )
    if info.frames < ANALYSIS_MIN_FRAMES:
        raise StemProverError(
            f"too short to analyze ({info.frames} samples; at least {ANALYSIS_MIN_FRAMES})",
            args.file,
        )
    if not stem.any():
        raise StemProverError("digital silence: there is nothing to analyze", args.file)
    report = analyze(stem, info.sample_rate, mix, args.detector)
    for name, r in sorted(report.items(), key=lambda kv: -kv[1]["score"]):
        worst = max(r["bands"], key=r["bands"].get)
        print(f"{name:16s} severity {r['score']:.2f}   worst band {worst}")
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


# -- train -------------------------------------------------------------------------------


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pairs",
        type=Path,
        action="append",
        required=True,
        help="pairs folder (from `pairs`); repeat to train on several",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder; an existing one resumes")
    p.add_argument("--config", default="base", help="preset name (tiny, base) or YAML path")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. train.steps=100; repeatable",
    )
    p.add_argument("--base-model", type=Path, help="diffusers model folder to start from")
    p.add_argument(
        "--init",
        metavar="MODEL",
        help="trained StemProver model to start from (e.g. to add the mixture condition)",
    )
    p.add_argument(
        "--adapter", metavar="ARTIFACT", help="train a LoRA adapter for this artifact type"
    )
    p.add_argument("--model", default="default", help="base StemProver model for --adapter")
    p.add_argument("-q", "--quiet", action="store_true")


def _train(args: argparse.Namespace) -> int:
    protect(args.pairs)
    from stemprover.config import load_config
    from stemprover.training.loop import train, train_adapter

    cfg = load_config(args.config, args.overrides)
    if args.adapter:
        out = train_adapter(cfg, args.pairs, args.out, args.model, args.adapter, not args.quiet)
        print(f"adapter: {out}  (copy it to <model>/adapters/{out.name} to use it by name)")
        return EXIT_OK
    out = train(cfg, args.pairs, args.out, args.base_model, not args.quiet, init=args.init)
    print(f"model: {out}")
    return EXIT_OK


# -- separator ---------------------------------------------------------------------------


def _train_action(p: argparse.ArgumentParser, what: str, steps: int) -> argparse.ArgumentParser:
    """The ``train`` action shared by ``separator`` and ``detector``."""
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help=f"train the {what} on a pairs folder")
    t.add_argument("--pairs", type=Path, required=True, help="pairs folder (from `pairs`)")
    t.add_argument("--out", type=Path, required=True, help=f"{what} folder to write")
    t.add_argument("--steps", type=int, default=steps)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("-q", "--quiet", action="store_true")
    return t


def _separator_args(p: argparse.ArgumentParser) -> None:
    from stemprover.config import UmxConfig

    t = _train_action(p, "umx separator", UmxConfig.steps)
    t.add_argument("--hidden", type=int, default=UmxConfig.hidden, help="LSTM width")


def _separator(args: argparse.Namespace) -> int:
    protect([args.pairs])
    from stemprover.audio import io
    from stemprover.config import UmxConfig
    from stemprover.data.umx import UmxSeparator, train_separator, validate_separator

    cfg = UmxConfig(steps=args.steps, hidden=args.hidden, seed=args.seed)
    with io.atomic_dir(args.out, args.overwrite) as staging:  # nothing half-written on failure
        train_separator(args.pairs, staging, cfg, not args.quiet)
    try:
        scores = validate_separator(UmxSeparator.load(args.out), args.pairs)
        print("valid SI-SDR (dB): " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    except StemProverError as err:  # no valid songs: the separator is still written
        print(f"no validation: {err}")
    print(f"separator: {args.out}")
    return EXIT_OK


def _detector_args(p: argparse.ArgumentParser) -> None:
    from stemprover.config import DetectorConfig

    t = _train_action(p, "artifact detector", DetectorConfig.steps)
    t.add_argument("--channels", type=int, default=DetectorConfig.channels, help="CNN width")
    t.add_argument(
        "--producer", action="append", help="train only on pairs from this producer; repeatable"
    )


def _detector(args: argparse.Namespace) -> int:
    protect([args.pairs])
    from stemprover.analysis.learned import train_detector
    from stemprover.audio import io
    from stemprover.config import DetectorConfig

    cfg = DetectorConfig(steps=args.steps, channels=args.channels, seed=args.seed)
    producers = tuple(args.producer) if args.producer else None
    with io.atomic_dir(args.out, args.overwrite) as staging:  # nothing half-written on failure
        train_detector(args.pairs, staging, cfg, not args.quiet, producers)
    print(f"detector: {args.out}")
    return EXIT_OK


# -- demo and bench ----------------------------------------------------------------------


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("stemprover-demo"), help="demo folder")
    p.add_argument("--model", default="default", help="model to demonstrate")
    p.add_argument("--seconds", type=float, default=12.0, help="length of the song")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")


def _demo(args: argparse.Namespace) -> int:
    from stemprover.demo import run_demo

    report = run_demo(args.out, args.model, args.seconds, args.seed, args.overwrite, not args.quiet)
    print(f"report: {report}")
    return EXIT_OK


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("bench/results/bench"), help="results folder")
    p.add_argument("--model", default="default")
    p.add_argument(
        "--heldout",
        type=Path,
        default=Path("data/heldout_pairs"),
        help="held-out pairs folder (made on first use)",
    )
    p.add_argument("--songs", type=int, default=8, help="held-out songs (4 pairs each)")
    p.add_argument("--sweep", default="0,1,4,10,25", help="--steps values to sweep")
    p.add_argument("--sweep-pairs", type=int, default=12)
    p.add_argument("--speed-seconds", type=float, default=60.0)
    p.add_argument("--no-quality", action="store_true")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="measure on a tree with uncommitted changes (results are labelled not publishable)",
    )
    p.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite bench.md from the bench.json in --out (measures nothing)",
    )


def _bench(args: argparse.Namespace) -> int:
    from stemprover.evaluation.bench import (
        BenchConfig,
        is_dirty,
        provenance,
        rerender,
        run_bench,
    )

    if args.render_only:
        print(f"bench: {rerender(args.out)}")
        return EXIT_OK

    if not args.allow_dirty and is_dirty(provenance()):
        raise StemProverError(
            "the working tree has uncommitted changes: a published number comes from a clean "
            "revision (commit first, or --allow-dirty for a labelled trial run)"
        )
    cfg = BenchConfig(
        model=args.model,
        heldout=args.heldout,
        songs=args.songs,
        sweep=tuple(int(s) for s in args.sweep.split(",")),
        sweep_pairs=args.sweep_pairs,
        speed_seconds=args.speed_seconds,
        quality=not args.no_quality,
        speed=not args.no_speed,
    )
    path = run_bench(cfg, args.out)
    print(path.read_text())
    return EXIT_OK


# -- models ------------------------------------------------------------------------------


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", type=Path, help="also list models in these folders")


def _models(args: argparse.Namespace) -> int:
    from stemprover.models.base import BUILTIN_MODELS, bundled_models, model_adapters, model_config

    print("built-in: " + ", ".join(BUILTIN_MODELS))
    found = {f"bundled:{k}": v for k, v in bundled_models().items()}
    for root in args.paths:
        found.update(
            {
                str(p.parent): p.parent
                for p in sorted(root.rglob("config.json"))
                if model_config(p.parent) is not None
            }
        )
    for name, folder in found.items():
        size = (folder / "model.safetensors").stat().st_size / 1e6
        adapters = ", ".join(model_adapters(folder)) or "none"
        cfg = model_config(folder)
        reads = ", reads the mixture (--mix)" if cfg.get("denoiser", {}).get("mixture") else ""
        print(f"{name}: {folder} ({size:.1f} MB), adapters: {adapters}{reads}")
    return EXIT_OK


# -- wiring ------------------------------------------------------------------------------

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "enhance": ("clean stems: files or folders", _enhance_args, _enhance),
    "pairs": ("build training pairs (clean, artifacted, mixture)", _pairs_args, _pairs),
    "analyze": ("artifact report: severity per type, band and second", _analyze_args, _analyze),
    "train": ("train a model on pairs (resumes an existing run)", _train_args, _train),
    "separator": (
        "train the built-in umx separator (the umx producer)",
        _separator_args,
        _separator,
    ),
    "detector": ("train the learned artifact detector (analyze)", _detector_args, _detector),
    "models": ("list built-in, bundled and local models and their adapters", _models_args, _models),
    "demo": ("synthetic song -> separate -> enhance -> evaluate -> report", _demo_args, _demo),
    "bench": ("quality and speed benchmark on the held-out set", _bench_args, _bench),
    "evaluate": ("score systems on pairs: metrics and HTML report", _evaluate_args, _evaluate),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stemprover",
        description="Remove source-separation artifacts from music stems.",
    )
    parser.add_argument("--version", action="version", version=f"stemprover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
        p.set_defaults(run=run)
    return parser


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stemprover`` console script; returns the exit code.

    Every failure a user can reach is one line on stderr; ``--debug`` shows the traceback.
    SIGTERM unwinds like Ctrl-C, so temporary files are removed either way.
    """
    args = build_parser().parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with protecting([]):  # each command marks its inputs, which no output may replace
            return args.run(args)
    except StemProverError as err:
        if args.debug:
            raise
        _error(str(err))
        return EXIT_FAILED
    except Terminated:
        _error("terminated")
        return 143
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except OSError as err:  # permissions, full disk, missing folders
        if args.debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        _error(f"{where}{err.strerror or err}")
        return EXIT_FAILED
    except Exception as err:
        if args.debug:
            raise
        _error(f"internal error: {type(err).__name__}: {err} (run again with --debug for details)")
        return EXIT_FAILED
    finally:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, previous)
