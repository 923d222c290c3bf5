"""The headless core every mode follows: actions in, view state out, an explicit clock.

A session knows nothing of Textual. The TUI turns keys into `Action`s and draws `session.view()`;
a script or a simulated labeler sends the very same actions. Every label goes to the workspace's
label store before `handle` returns, so whatever the screen shows next is already on disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..workspace import Workspace

Clock = Callable[[], float]


@dataclass(frozen=True)
class Action:
    """What a key (or a script) asks of a session: ``Action("label", 3)``, ``Action("undo")``."""

    name: str
    value: Any = None


@dataclass
class CurvePoint:
    """One model update: labels spent so far, seconds on the session's clock, test accuracy."""

    labels: int
    seconds: float
    accuracy: float | None
    extra: dict[str, Any] = field(default_factory=dict)


class SimClock:
    """A clock that only moves when told to: simulated labelers spend time explicitly."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Session(Protocol):
    """The interface each mode's session implements."""

    mode: str
    curve: list[CurvePoint]

    def handle(self, action: Action) -> None: ...

    def view(self) -> Any: ...

    def actions(self) -> dict[str, str]: ...


class BaseSession:
    """Shared plumbing: the workspace, a store session id, the clock and the learning curve."""

    mode = "base"

    def __init__(self, workspace: Workspace, clock: Clock | None = None, annotator: str | None = None) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.pool = workspace.pool
        self.clock: Clock = clock or time.monotonic
        self.started = self.clock()
        self.session_id = self.store.start_session(self.mode, annotator)
        self.curve: list[CurvePoint] = []
        self.message = ""

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def human_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Every item a person gave a class (unsure left out): pool indices and classes."""
        pairs = [(i, lab) for i, (lab, _) in self.store.current(("human",)).items() if lab is not None]
        idx = self.pool.indices_of([i for i, _ in pairs])
        return idx, np.array([lab for _, lab in pairs], dtype=np.int64)

    def handle(self, action: Action) -> None:
        method = getattr(self, f"do_{action.name}", None)
        if method is None:
            raise ValueError(f"{self.mode} session has no action {action.name!r}")
        if action.value is None:
            method()
        else:
            method(action.value)

    def actions(self) -> dict[str, str]:
        """Action names and their one-line descriptions (from the ``do_*`` docstrings)."""
        return {
            name[3:]: (getattr(self, name).__doc__ or "").strip().splitlines()[0]
            for name in dir(self)
            if name.startswith("do_")
        }
