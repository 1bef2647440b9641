"""The project's error type: a message a user can act on, printed as one line by the CLI."""

from __future__ import annotations


class StemProverError(ValueError):
    """Bad input or a request that cannot be met.

    Args:
        message: What is wrong and, where possible, what to do about it.
        path: The file the problem concerns; the CLI puts it in front of the message.
    """

    def __init__(self, message: str, path: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message
