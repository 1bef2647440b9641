"""The commands of an engineer who trains and measures: pairs, train, separator, detector,
evaluate, demo, bench."""

from __future__ import annotations

import argparse
from pathlib import Path

from stemprover.cli.common import ADAPTERS_HELP, EXIT_OK
from stemprover.errors import StemProverError
from stemprover.outputs import protect
from stemprover.vocabulary import DEVICES, PRODUCERS, SPLITS

# -- pairs -------------------------------------------------------------------------------


def _pairs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="pairs folder to create")
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help="synthetic songs")
    p.add_argument(
        "--scores",
        type=int,
        default=0,
        metavar="N",
        help="songs arranged from human-composed scores of the music21 corpus",
    )
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
    p.add_argument(
        "--soundfont",
        type=Path,
        action="append",
        help="SoundFont (.sf2/.sf3) for rendered songs; repeat to take several in turn",
    )
    p.add_argument(
        "--effects",
        type=float,
        default=0.0,
        metavar="P",
        help="share of rendered stems given production effects (compressor, reverb, chorus)",
    )
    p.add_argument(
        "--separator", type=Path, help="trained umx separator folder (default: the bundled one)"
    )
    p.add_argument("--rate", type=int, default=44100)
    p.add_argument("--split", choices=SPLITS, help="put every song in one split")
    p.add_argument(
        "--instrumental",
        action="store_true",
        help="also a pair of each song's instrumental (all but the vocals), as two-stem "
        "separators give it",
    )
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")


def _pairs(args: argparse.Namespace) -> int:
    protect([args.multitrack, *(args.soundfont or []), args.separator])
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
        scores=args.scores,
        seconds=args.seconds,
        multitrack=args.multitrack,
        producers=producers,
        artifacts=tuple(args.artifacts.split(",")) if args.artifacts else ARTIFACTS,
        severity=(lo, hi),
        seed=args.seed,
        soundfont=tuple(args.soundfont) if args.soundfont else None,
        rate=args.rate,
        split=args.split,
        separator=args.separator,
        instrumental=args.instrumental,
        effects=args.effects,
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
        from stemprover.evaluation.song import as_enhance_runs

        models["model"] = as_enhance_runs(load_pipeline(options))  # song mode when it reads
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


# -- train -------------------------------------------------------------------------------


def _run_args(p: argparse.ArgumentParser, overrides: str) -> None:
    """``--pairs`` (repeatable), ``--out`` (a run folder) and ``--set`` overrides."""
    p.add_argument(
        "--pairs",
        type=Path,
        action="append",
        required=True,
        help="pairs folder (from `pairs`); repeat to train on several",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder; an existing one resumes")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {overrides}; repeatable",
    )


def _train_args(p: argparse.ArgumentParser) -> None:
    _run_args(p, "a config value, e.g. train.steps=100")
    p.add_argument("--config", default="base", help="preset name (tiny, base) or YAML path")
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
    t.add_argument(
        "--core",
        choices=("blstm", "tcn", "bandsplit"),
        default=UmxConfig.core,
        help="sequence model: Open-Unmix's BLSTM, dilated time convolutions, or band-split GRUs",
    )
    t.add_argument(
        "--bandwidth",
        type=float,
        default=UmxConfig.bandwidth_hz,
        help="Hz; bins above are not modelled (lost highs, as Spleeter-class separators)",
    )


def _separator(args: argparse.Namespace) -> int:
    protect([args.pairs])
    from stemprover.audio import io
    from stemprover.config import UmxConfig
    from stemprover.models.separator import UmxSeparator
    from stemprover.training.separator import train_separator, validate_separator

    cfg = UmxConfig(
        steps=args.steps,
        hidden=args.hidden,
        seed=args.seed,
        core=args.core,
        bandwidth_hz=args.bandwidth,
    )
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
    from stemprover.audio import io
    from stemprover.config import DetectorConfig
    from stemprover.training.detector import train_detector

    cfg = DetectorConfig(steps=args.steps, channels=args.channels, seed=args.seed)
    producers = tuple(args.producer) if args.producer else None
    with io.atomic_dir(args.out, args.overwrite) as staging:  # nothing half-written on failure
        train_detector(args.pairs, staging, cfg, not args.quiet, producers)
    print(f"detector: {args.out}")
    return EXIT_OK


def _refiner_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train the refiner on pairs folders (resumes a run)")
    _run_args(t, "model.* (architecture) or train.* (RefinerTrainConfig), e.g. train.steps=100")
    t.add_argument(
        "--init",
        type=Path,
        help="refiner model folder to start from (its architecture, model.*, unless --set)",
    )
    t.add_argument("-q", "--quiet", action="store_true")


def _refiner(args: argparse.Namespace) -> int:
    protect(args.pairs)
    from stemprover.config import RefinerConfig, RefinerTrainConfig, apply_overrides, from_dict
    from stemprover.models.refiner import KIND
    from stemprover.models.serialization import read_meta
    from stemprover.training.refiner import train_refiner

    # A second stage continues the model it starts from: its architecture and classical
    # estimate (model.prior), not the defaults' (its config.json; train_refiner loads weights).
    base = RefinerConfig()
    if args.init is not None:
        base = from_dict(RefinerConfig, read_meta(args.init, (KIND,))["config"])
    model, train = apply_overrides(
        {"model": base, "train": RefinerTrainConfig()}, args.overrides
    ).values()
    out = train_refiner(args.pairs, args.out, model, train, not args.quiet, init=args.init)
    print(f"refiner: {out}")
    return EXIT_OK


def _trust_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser(
        "train",
        help="train the song trust layer after a refiner (resumes a run)",
        description="Train the song trust layer of a refiner: its quality estimate on the "
        "stems of --quality-pairs and --pairs (train split), its blend network on song mode "
        "over --pairs (train split: songs the refiner never trained on); both chosen on the "
        "valid split of --valid-pairs.",
    )
    _run_args(t, "trust.* (TrustConfig) or train.* (TrustTrainConfig)")
    t.add_argument("--model", default="default", help="the refiner the layer follows")
    t.add_argument(
        "--quality-pairs",
        type=Path,
        action="append",
        default=[],
        help="more pairs folders for the quality estimate; repeatable",
    )
    t.add_argument(
        "--blend-pairs",
        type=Path,
        action="append",
        default=[],
        help="more pairs folders for the blend networks only (train split; not the quality "
        "estimate); repeatable",
    )
    t.add_argument(
        "--valid-pairs",
        type=Path,
        action="append",
        required=True,
        help="pairs folder whose valid split chooses both networks' steps; repeatable",
    )
    t.add_argument(
        "--quality-from",
        type=Path,
        help="a trained trust layer's folder whose quality estimate this run reuses "
        "(its first two stages skipped; --quality-pairs then unused)",
    )
    t.add_argument("--jobs", type=int, default=1, help="pairs folders read in parallel")
    t.add_argument("-q", "--quiet", action="store_true")


def _trust(args: argparse.Namespace) -> int:
    protect([*args.pairs, *args.quality_pairs, *args.blend_pairs, *args.valid_pairs])
    from stemprover.config import apply_overrides
    from stemprover.models.trust import TrustConfig
    from stemprover.training.trust import TrustTrainConfig, train_trust

    tcfg, cfg = apply_overrides(
        {"trust": TrustConfig(), "train": TrustTrainConfig()}, args.overrides
    ).values()
    out = train_trust(
        args.model,
        args.quality_pairs,
        args.pairs,
        args.valid_pairs,
        args.out,
        cfg,
        tcfg,
        jobs=args.jobs,
        verbose=not args.quiet,
        quality_from=args.quality_from,
        blend_only=args.blend_pairs,
    )
    print(f"trust layer: {out}")
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
    from stemprover.evaluation.bench import BenchConfig, rerender, run_bench
    from stemprover.evaluation.results import is_dirty, provenance

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
