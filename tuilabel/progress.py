"""Progress of a long command (init, embed, train, store migrate) on stderr."""

from __future__ import annotations

import sys
from typing import Any


class CommandProgress:
    """Progress of a long command: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.bar: Any = None

    def __enter__(self) -> CommandProgress:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            from rich.table import Column

            # one line whatever the width: a wrapped line is printed again at every refresh
            text = Column(no_wrap=True, overflow="ellipsis", ratio=1)
            self.bar = Progress(TextColumn(self.title, table_column=Column(no_wrap=True)), BarColumn(bar_width=20),
                                TextColumn("{task.description}", table_column=text), TimeElapsedColumn(),
                                console=Console(stderr=True), expand=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=None)
        return self

    def __call__(self, fraction: float | None, text: str) -> None:
        import time

        if self.bar is not None:
            self.bar.update(self.task, description=text, total=None if fraction is None else 1.0,
                            completed=fraction or 0.0)
        elif time.monotonic() - self.last >= 5.0 or (fraction is not None and fraction >= 1.0):
            self.last = time.monotonic()
            print(f"{self.title}: {text}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
