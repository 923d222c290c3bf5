"""After the app has quit (`tuilabel label`): an update still running is let finish, so that what it
makes is kept (Ctrl+C leaves it), and labels waiting for an unreachable store are written or said."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from .errors import TuilabelError


def warn(msg: str) -> None:
    """One line to stderr, as every command's notes are written."""
    print(f"tuilabel: {msg}", file=sys.stderr)


def write_waiting(workspace: Any) -> None:
    """Labels kept in the workspace while the store was unreachable: written now if it is back, else
    said (the next start writes them)."""
    store = workspace._store
    if store is None or not store.waiting():
        return
    with contextlib.suppress(TuilabelError):
        store.flush_journal()
    if store.waiting():
        with contextlib.suppress(OSError):
            warn(f"{store.waiting()} labels wait in {workspace.path / 'journal.jsonl'} for the label store "
                  "(unreachable); the next start writes them")


def wait_for_updates(updates: Any) -> bool:
    """Quitting during an update: the update saves what it makes, so let it finish (and say so);
    Ctrl+C leaves it (every label is on disk already). False when it was left."""
    if updates.wait(0.1):
        return True
    warn("letting the model update finish so it is kept; Ctrl+C leaves it")
    tty = sys.stderr.isatty()
    try:
        while not updates.wait(1.0):
            if tty:
                print(f"\r\x1b[K  {updates.describe()[:76]}", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\r\x1b[K" if tty else "", end="", file=sys.stderr)
        warn("left the update unfinished")
        return False
    print("\r\x1b[K" if tty else "", end="", file=sys.stderr)
    warn("model update finished and saved")
    return True
