"""Simulated labelers: run a mode's session headless through the same actions the keys send.

The labeler is the only part that reads the pool's ground truth; the session never does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TuilabelError
from .sessions.base import Action, SimClock
from .workspace import Workspace


@dataclass
class SimSettings:
    mode: str
    labels: int | None = 200
    seconds: float | None = None
    seed: int = 0
    error_rate: float = 0.0
    seconds_per_label: float = 1.75  # seed 000's estimate for labeling a static image


class TruthLabeler:
    """Answers from the ground truth, wrong at a set rate (a uniformly random other class)."""

    def __init__(self, truth: np.ndarray, n_classes: int, error_rate: float, rng: np.random.Generator) -> None:
        if truth is None:
            raise TuilabelError("the pool has no ground-truth labels to simulate a labeler with")
        self.truth = truth
        self.n_classes = n_classes
        self.error_rate = error_rate
        self.rng = rng

    def answer(self, index: int) -> int:
        label = int(self.truth[index])
        if label >= 0 and self.n_classes > 1 and self.rng.random() < self.error_rate:
            label = int((label + self.rng.integers(1, self.n_classes)) % self.n_classes)
        return label


def _budget_left(settings: SimSettings, spent: int, clock: SimClock) -> bool:
    if settings.labels is not None and spent >= settings.labels:
        return False
    return not (settings.seconds is not None and clock() >= settings.seconds)


def simulate_browse(ws: Workspace, settings: SimSettings, progress: Callable[[int], None]) -> Any:
    from .sessions.browse import BrowseSession

    clock = SimClock()
    session = BrowseSession(ws, clock=clock, seed=settings.seed, annotator="simulated")
    labeler = TruthLabeler(ws.pool.truth, ws.pool.n_classes, settings.error_rate,
                           np.random.default_rng(settings.seed + 1))
    while _budget_left(settings, session.labels_spent, clock):
        index = session.current_index
        if index is None:
            break
        clock.advance(settings.seconds_per_label)
        session.handle(Action("label", labeler.answer(index)))
        progress(session.labels_spent)
        if session.due_update():
            session.update_model()
    if not session.curve or session.curve[-1].labels != session.labels_spent:
        session.update_model()
    return session


SIMULATORS: dict[str, Callable[[Workspace, SimSettings, Callable[[int], None]], Any]] = {
    "browse": simulate_browse,
}


def run_simulation(
    workspace: Path, settings: SimSettings, out: Path, progress: Callable[[int], None] | None = None
) -> dict:
    """Run one simulated session in a scratch label store under ``runs/`` and write its curve."""
    if settings.mode not in SIMULATORS:
        raise TuilabelError(f"mode {settings.mode!r} cannot be simulated yet; built: {', '.join(SIMULATORS)}")
    if settings.labels is None and settings.seconds is None:
        raise TuilabelError("give --labels or --seconds (or both) to bound the simulated session")
    probe = Workspace(workspace)
    if probe.pool.truth is None or (probe.pool.truth < 0).all():
        raise TuilabelError("the pool has no ground-truth labels to simulate a labeler with", workspace)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    store_path = probe.runs_dir / f"sim-{settings.mode}-{stamp}-{settings.seed}-{time.monotonic_ns() % 10**6}.sqlite"
    ws = Workspace(workspace, store_path=store_path)
    started = time.perf_counter()
    session = SIMULATORS[settings.mode](ws, settings, progress or (lambda n: None))
    result = {
        "mode": settings.mode,
        "workspace": str(Path(workspace).resolve()),
        "settings": asdict(settings),
        "test_items": len(ws.test) if ws.test is not None else 0,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "label_store": str(store_path),
        "curve": [
            {"labels": p.labels, "seconds": round(p.seconds, 3), "accuracy": p.accuracy, **p.extra}
            for p in session.curve
        ],
    }
    ws.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result
