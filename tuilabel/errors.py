"""The one exception type that reaches the user as a one-line message."""

from __future__ import annotations

from pathlib import Path


class TuilabelError(Exception):
    """A problem the user can fix; the CLI prints it on one line and exits with status 2."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class DataError(TuilabelError):
    """An input file or folder that cannot become a pool."""
