"""Simulated labelers: run a mode's session headless through the same actions the keys send.

The labeler is the only part that reads the pool's ground truth; the session never does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .data import to_model_input
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
    reaction_seconds: float = 0.3  # stream: how late a person's key follows what they saw
    unsure_below: float = 0.7  # stream: the watcher presses unsure below this confidence
    eval_every: float = 60.0  # stream: simulated seconds between evaluations
    skip_sure_after: float | None = 300.0  # stream: the person turns on "don't show if sure" then (seed 000)
    epochs: int | None = None  # clusters: stop after this many labelling epochs
    sure_above: float = 0.95  # clusters: the person gives high confidence above this, medium below
    options: dict[str, Any] = field(default_factory=dict)  # the mode's own settings (--set KEY=VALUE)


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


def mode_settings(cls: type, options: dict[str, Any]) -> Any:
    """A mode's settings dataclass from ``--set`` options, each converted to its field's type."""
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, raw in options.items():
        if key not in known:
            raise TuilabelError(f"unknown setting {key!r}; this mode has: {', '.join(known)}")
        default = getattr(cls(), key)
        if isinstance(default, bool) and isinstance(raw, str):
            values[key] = raw.lower() in ("1", "true", "yes", "on")
        else:
            try:
                values[key] = type(default)(raw)
            except (TypeError, ValueError):
                raise TuilabelError(f"setting {key}={raw!r} is not a {type(default).__name__}") from None
    return cls(**values)


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


def simulate_batch(ws: Workspace, settings: SimSettings, progress: Callable[[int], None]) -> Any:
    """Label page by page; a round's result replaces the ranking only once its compute time has
    passed on the simulated clock (the labeler keeps going with the old ranking meanwhile)."""
    from .sessions.batch import BatchSession, BatchSettings

    clock = SimClock()
    batch_settings = mode_settings(BatchSettings, {"seed": settings.seed, **settings.options})
    session = BatchSession(ws, clock=clock, settings=batch_settings, annotator="simulated", save_model=False)
    labeler = TruthLabeler(ws.pool.truth, ws.pool.n_classes, settings.error_rate,
                           np.random.default_rng(settings.seed + 1))
    pending: tuple[float, Any, Any] | None = None
    while _budget_left(settings, len(session.labelled), clock):
        if pending is not None and clock() >= pending[0]:
            session.apply(pending[1], pending[2])
            pending = None
        if not session.page:
            break
        item = session.page[session.focus]
        clock.advance(settings.seconds_per_label)
        session.handle(Action("label", labeler.answer(item.index)))
        progress(len(session.labelled))
        if session.due_round():
            job = session.snapshot()
            result = session.train_and_score(job)
            pending = (clock() + result.seconds_train + result.seconds_score, job, result)
    if pending is not None:
        session.apply(pending[1], pending[2])
    if not session.curve or session.curve[-1].labels != len(session.labelled):
        session.run_round()  # the final model, on every label spent
    return session


def reference_classifier(ws: Workspace, seed: int = 0) -> Any:
    """A CNN trained on the pool's ground truth: the simulated person's eyes, never the session's.

    Cached under ``runs/`` per workspace, since every simulated stream or clusters run needs it.
    """
    from .models.cnn import CNNClassifier

    path = ws.runs_dir / f"reference-cnn-{seed}.npz"
    if path.exists():
        return CNNClassifier.load(path)
    pool = ws.pool
    known = pool.truth >= 0
    model = CNNClassifier(arch="small", epochs=12, patience=0, seed=seed)
    model.fit(pool.as_float(np.flatnonzero(known)), pool.truth[known], pool.n_classes)
    model.save(path)
    return model


class StreamWatcher:
    """A person watching the stream: sees each frame ``reaction`` seconds late, sets the label
    the reference classifier sees, presses unsure when it is not confident, errs at a set rate."""

    def __init__(self, reference: Any, settings: SimSettings, n_classes: int, rng: np.random.Generator) -> None:
        self.reference = reference
        self.settings = settings
        self.n_classes = n_classes
        self.rng = rng

    def look(self, image: np.ndarray) -> np.ndarray:
        """The reference classifier's class probabilities for one uint8 image."""
        return self.reference.predict_proba(to_model_input(image[None]))[0]

    def judge(self, frame: np.ndarray) -> int | None:
        return self.decide(self.look(frame))

    def decide(self, p: np.ndarray) -> int | None:
        if p.max() < self.settings.unsure_below:
            return None
        label = int(p.argmax())
        if self.rng.random() < self.settings.error_rate:
            label = int((label + self.rng.integers(1, self.n_classes)) % self.n_classes)
        return label


def simulate_stream(ws: Workspace, settings: SimSettings, progress: Callable[[int], None]) -> Any:
    from .models.rbm import RBM
    from .sessions.stream import StreamSession, StreamSettings

    model_path = ws.models_dir / "rbm.npz"
    if not model_path.exists():
        raise TuilabelError("no RBM yet: run `tuilabel train WORKSPACE --model rbm` first", ws.path)
    rbm = RBM.load(model_path)
    rbm.reset_labels()  # the simulated person starts from nothing
    reference = reference_classifier(ws)
    clock = SimClock()
    stream_settings = mode_settings(StreamSettings, settings.options)
    session = StreamSession(ws, rbm, clock=clock, seed=settings.seed, settings=stream_settings,
                            annotator="simulated")
    watcher = StreamWatcher(reference, settings, ws.pool.n_classes, np.random.default_rng(settings.seed + 1))
    shown: list[tuple[float, np.ndarray]] = [(clock(), session.frame)]
    next_eval = settings.eval_every
    seen_at = -1.0
    while _budget_left(settings, len(session.labelled), clock):
        clock.now = session.next_frame_at
        session.tick()
        shown.append((clock(), session.frame))
        # what the person reacts to now: the newest frame shown at least `reaction` seconds ago
        while len(shown) > 1 and shown[1][0] <= clock() - settings.reaction_seconds:
            shown.pop(0)
        if shown[0][0] != seen_at:
            seen_at = shown[0][0]
            decision = watcher.judge(shown[0][1])
            if decision != session.label:
                session.handle(Action("unsure") if decision is None else Action("label", decision))
        progress(len(session.labelled))
        turn_on_skip = settings.skip_sure_after is not None and clock() >= settings.skip_sure_after
        if turn_on_skip and not session.settings.skip_sure:
            session.handle(Action("toggle_skip_sure"))
        if clock() >= next_eval:
            _stream_point(session)
            next_eval += settings.eval_every
    _stream_point(session)
    return session


def _stream_point(session: Any) -> None:
    """Evaluate the online weights as they are, and offline CD-1 weights from the same frames."""
    rbm = session.rbm
    x, y = session.labelled_frames(everywhere=False)
    offline = None
    if len(y):
        online = (rbm.U_, rbm.d_)
        rbm.U_, rbm.d_ = session.offline_weights(x, y)
        offline = session.evaluate()
        rbm.U_, rbm.d_ = online
    session.record_point(offline_accuracy=offline)


class CentreJudge:
    """A person looking at a decoded cluster centre: the reference classifier reads the image; below
    ``unsure_below`` it shows no class, above ``sure_above`` the label gets high confidence, medium
    otherwise. It never sees which pool items are in the cluster, let alone their ground truth."""

    def __init__(self, reference: Any, settings: SimSettings, n_classes: int, rng: np.random.Generator) -> None:
        self.watcher = StreamWatcher(reference, settings, n_classes, rng)
        self.settings = settings

    def judge(self, image: np.ndarray) -> tuple[int | None, str]:
        p = self.watcher.look(image)
        return self.watcher.decide(p), ("high" if p.max() >= self.settings.sure_above else "medium")


def simulate_clusters(ws: Workspace, settings: SimSettings, progress: Callable[[int], None]) -> Any:
    """Pretrain a VAE without labels, then decide centres epoch by epoch until the label budget,
    the simulated seconds or ``settings.epochs`` run out; the last labels are always trained on."""
    from .sessions.clusters import ClustersSession, ClustersSettings, pretrain

    cluster_settings = mode_settings(ClustersSettings, {"seed": settings.seed, **settings.options})
    model = cluster_settings.model()
    pretrain(model, ws.pool.as_float(), ws.pool.n_classes, cluster_settings)
    reference = reference_classifier(ws)
    clock = SimClock()
    session = ClustersSession(ws, model, clock=clock, settings=cluster_settings, annotator="simulated",
                              save_model=False)
    judge = CentreJudge(reference, settings, ws.pool.n_classes, np.random.default_rng(settings.seed + 1))
    while True:
        if session.due_epoch():
            if session.decided_this_epoch == 0 and session.current is None:
                break  # nothing left to show and nothing new to train on
            t0 = time.perf_counter()
            session.run_epoch()
            clock.advance(time.perf_counter() - t0)
            if settings.epochs is not None and len(session.history) >= settings.epochs:
                break
            continue
        if not _budget_left(settings, session.spent, clock):
            if session.decided_this_epoch:
                session.run_epoch()  # train on the labels given since the last epoch
            break
        centre = session.current
        clock.advance(settings.seconds_per_label)
        label, level = judge.judge(centre.image)
        if level != session.confidence:
            session.handle(Action("confidence", level))
        session.handle(Action("no_class") if label is None else Action("label", label))
        progress(session.spent)
    return session


SIMULATORS: dict[str, Callable[[Workspace, SimSettings, Callable[[int], None]], Any]] = {
    "browse": simulate_browse,
    "stream": simulate_stream,
    "batch": simulate_batch,
    "clusters": simulate_clusters,
}


def run_simulation(
    workspace: Path, settings: SimSettings, out: Path, progress: Callable[[int], None] | None = None
) -> dict:
    """Run one simulated session in a scratch label store under ``runs/`` and write its curve."""
    if settings.mode not in SIMULATORS:
        raise TuilabelError(f"mode {settings.mode!r} cannot be simulated yet; built: {', '.join(SIMULATORS)}")
    if settings.labels is None and settings.seconds is None and settings.epochs is None:
        raise TuilabelError("give --labels, --seconds or --epochs to bound the simulated session")
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
