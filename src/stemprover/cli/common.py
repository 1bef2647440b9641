"""What every subcommand shares: exit codes, the one-line error, the adapters help."""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ADAPTERS_HELP = (
    "none, auto, a,b or a=0.7,b=0.3 (default: auto when the model has adapters, else none)"
)


def error(message: str) -> None:
    print(f"stemprover: error: {message}", file=sys.stderr)
