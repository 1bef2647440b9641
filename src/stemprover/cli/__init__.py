"""The `stemprover` command line: each subcommand parses, calls one library function, and
returns an exit code. Failures are one line on stderr (``--debug``: the traceback).

Parsing imports no torch: ``stemprover --help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Callable, Sequence

from stemprover.cli.common import EXIT_FAILED
from stemprover.cli.common import error as _error
from stemprover.cli.engineer import (
    _bench,
    _bench_args,
    _demo,
    _demo_args,
    _detector,
    _detector_args,
    _evaluate,
    _evaluate_args,
    _pairs,
    _pairs_args,
    _refiner,
    _refiner_args,
    _separator,
    _separator_args,
    _train,
    _train_args,
    _trust,
    _trust_args,
)
from stemprover.cli.use import (
    _analyze,
    _analyze_args,
    _enhance,
    _enhance_args,
    _models,
    _models_args,
)
from stemprover.errors import StemProverError
from stemprover.outputs import Terminated, protecting
from stemprover.version import __version__

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
    "refiner": (
        "train the refiner (the mixture-reading predictive stage)",
        _refiner_args,
        _refiner,
    ),
    "trust": (
        "train the song trust layer (which of a stem's candidates to keep, band by band)",
        _trust_args,
        _trust,
    ),
    "models": ("list built-in, bundled and local models and their adapters", _models_args, _models),
    "demo": ("synthetic song -> separate -> enhance -> evaluate -> report", _demo_args, _demo),
    "bench": ("quality and speed benchmark on the held-out set", _bench_args, _bench),
    "evaluate": ("score systems on pairs: metrics and HTML report", _evaluate_args, _evaluate),
}


class _Help(argparse.HelpFormatter):
    """Shows each option's default where it has one and its help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        quiet = action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
        return text if quiet or "default" in text else f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stemprover",
        description="Remove source-separation artifacts from music stems.",
    )
    parser.add_argument("--version", action="version", version=f"stemprover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_args, run) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=_Help,
        )
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
