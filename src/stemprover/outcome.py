"""What enhancing produced: one :class:`FileResult` per file, gathered in a
:class:`BatchResult`. No third-party imports: the CLI reports early failures with these
before anything heavy loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FileResult:
    """The outcome of one file: an output, or the error that stopped it."""

    input: Path
    output: Path | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    audio_seconds: float = 0.0
    adapters: dict[str, float] | None = None
    stem: str | None = None


@dataclass
class BatchResult:
    files: list[FileResult]
    notes: list[str] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)  # the planned songs.Job of each file

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.error is not None]
