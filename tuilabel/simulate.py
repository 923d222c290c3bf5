"""Simulated labelers, and the one driver that runs any mode's session with one.

The labeler is the only part that reads the pool's ground truth; the session never does. The
driver runs the same update cycle the screens run (`BaseSession`: due, snapshot, train, apply),
in line: an update's result takes effect once its compute time has passed on the simulated clock,
and that time comes from the session's model of the compute (`compute_seconds`), so that the same
command and seed give the same curve on any machine; ``compute="measured"`` charges the real time.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .data import to_model_input
from .errors import TuilabelError
from .sessions.base import Action, BaseSession, CurvePoint, SimClock
from .sessions.registry import mode as mode_spec
from .workspace import Workspace

Report = Callable[[int, CurvePoint | None], None]  # (labels spent, the curve point of an update just applied)


@dataclass
class SimSettings:
    mode: str
    labels: int | None = 200
    seconds: float | None = None
    seed: int = 0
    error_rate: float = 0.0
    seconds_per_label: float = 1.75  # seed 000's estimate for labeling a static image
    reaction_seconds: float = 0.3  # stream: how late a person's key follows what they saw
    unsure_below: float = 0.7  # stream, clusters: the person says unsure / no class below this confidence
    eval_every: float = 60.0  # stream: simulated seconds between evaluations
    skip_sure_after: float | None = 300.0  # stream: the person turns on "don't show if sure" then (seed 000)
    epochs: int | None = None  # stop after this many model updates (clusters: labelling epochs)
    sure_above: float = 0.95  # clusters: the person gives high confidence above this, medium below
    compute: str = "model"  # "model": compute time from the session's cost model; "measured": the real time
    options: dict[str, Any] = field(default_factory=dict)  # the mode's own settings (--set KEY=VALUE)


# -- the simulated people -----------------------------------------------------------------------------


class SimulatedLabeler:
    """A simulated person: `act` does what they would do next (spending time on the clock and
    sending actions to the session) and says False when there is nothing left for them to do."""

    def __init__(self, workspace: Workspace, settings: SimSettings) -> None:
        self.workspace = workspace
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed + 1)

    def prepare(self, session: Any) -> None:
        """Set the session up as this person starts it."""

    def act(self, session: Any, clock: SimClock) -> bool:
        raise NotImplementedError

    def finish(self, session: BaseSession) -> None:
        """After the budget: train on the labels given since the last update."""
        if not session.curve or session.curve[-1].labels != session.spent:
            session.update()

    def summary(self) -> dict[str, Any]:
        """What this person knows about the run that the session cannot (it goes in the JSON)."""
        return {}


class TruthLabeler:
    """Answers from the ground truth, wrong at a set rate (a uniformly random other class)."""

    def __init__(self, truth: np.ndarray | None, n_classes: int, error_rate: float, rng: np.random.Generator) -> None:
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


class ItemLabeler(SimulatedLabeler):
    """Labels the pool image the session shows (browse, batch) from the ground truth, taking
    ``seconds_per_label`` for each."""

    def __init__(self, workspace: Workspace, settings: SimSettings) -> None:
        super().__init__(workspace, settings)
        pool = workspace.pool
        self.truth = TruthLabeler(pool.truth, pool.n_classes, settings.error_rate, self.rng)

    def act(self, session: Any, clock: SimClock) -> bool:
        index = session.shown_item()
        if index is None:
            return False
        clock.advance(self.settings.seconds_per_label)
        session.handle(Action("label", self.truth.answer(index)))
        return True


REFERENCE_PASSES = 120_000  # the reference CNN's training at most (the 4,000-image sample: 48,000)


def reference_classifier(ws: Workspace, seed: int = 0) -> Any:
    """A CNN trained on the pool's ground truth: the simulated person's eyes, never the session's.

    Cached under ``runs/`` per workspace, since every simulated stream or clusters run needs it.
    """
    from .models.cnn import CNNClassifier

    path = ws.runs_dir / f"reference-cnn-{seed}.npz"
    if path.exists():
        return CNNClassifier.load(path)
    pool = ws.pool
    assert pool.truth is not None
    known = np.flatnonzero(pool.truth >= 0)
    # 12 epochs, fewer on a large pool (at most REFERENCE_PASSES image passes, at least 2 epochs)
    epochs = max(2, min(12, REFERENCE_PASSES // max(len(known), 1)))
    if sys.stderr.isatty():  # a terminal waiting on it; logs and errors stay as they were
        print(f"the simulated person's eyes: a CNN on the pool's {len(known)} true labels, {epochs} epochs "
              f"(once per workspace, kept in {path.parent})…", file=sys.stderr, flush=True)
    model = CNNClassifier(arch="small", epochs=epochs, patience=0, seed=seed)
    model.fit(pool.as_float(known), pool.truth[known], pool.n_classes)
    model.save(path)
    return model


class Eyes:
    """What a person makes of one image: the reference classifier's reading, unsure below a
    confidence, wrong at the error rate."""

    def __init__(self, reference: Any, settings: SimSettings, n_classes: int, rng: np.random.Generator) -> None:
        self.reference = reference
        self.settings = settings
        self.n_classes = n_classes
        self.rng = rng

    def look(self, image: np.ndarray) -> np.ndarray:
        """The reference classifier's class probabilities for one uint8 image."""
        return self.reference.predict_proba(to_model_input(image[None]))[0]

    def decide(self, p: np.ndarray) -> int | None:
        if p.max() < self.settings.unsure_below:
            return None
        label = int(p.argmax())
        if self.rng.random() < self.settings.error_rate:
            label = int((label + self.rng.integers(1, self.n_classes)) % self.n_classes)
        return label


class StreamWatcher(SimulatedLabeler):
    """A person watching the stream: sees each frame ``reaction`` seconds late, sets the label the
    reference classifier sees, presses unsure when it is not confident, errs at a set rate, and
    turns on "don't show if sure" after ``skip_sure_after`` seconds. A curve point every
    ``eval_every`` simulated seconds: the online label weights as they are, and offline CD-1
    weights from the same frames beside them."""

    def __init__(self, workspace: Workspace, settings: SimSettings) -> None:
        super().__init__(workspace, settings)
        self.eyes: Eyes | None = None  # the reference CNN, once the session has opened (its model checked)
        self.shown: list[tuple[float, np.ndarray]] = []
        self.next_eval = settings.eval_every
        self.seen_at = -1.0

    def prepare(self, session: Any) -> None:
        session.rbm.reset_labels()  # the simulated person starts from nothing
        self.eyes = Eyes(reference_classifier(self.workspace), self.settings, self.workspace.pool.n_classes, self.rng)
        self.shown = [(session.clock(), session.frame)]

    def act(self, session: Any, clock: SimClock) -> bool:
        s = self.settings
        clock.now = session.next_frame_at
        session.tick()
        self.shown.append((clock(), session.frame))
        # what the person reacts to now: the newest frame shown at least `reaction` seconds ago
        while len(self.shown) > 1 and self.shown[1][0] <= clock() - s.reaction_seconds:
            self.shown.pop(0)
        if self.shown[0][0] != self.seen_at:
            assert self.eyes is not None, "prepare() comes first"
            self.seen_at = self.shown[0][0]
            decision = self.eyes.decide(self.eyes.look(self.shown[0][1]))
            if decision != session.label:
                session.handle(Action("unsure") if decision is None else Action("label", decision))
        if s.skip_sure_after is not None and clock() >= s.skip_sure_after and not session.settings.skip_sure:
            session.handle(Action("toggle_skip_sure"))
        if clock() >= self.next_eval:
            stream_point(session)
            self.next_eval += s.eval_every
        return True

    def finish(self, session: BaseSession) -> None:
        if not session.curve or session.curve[-1].seconds < session.elapsed:  # not when `act` just did
            stream_point(session)


def stream_point(session: Any) -> CurvePoint:
    """Evaluate the online weights as they are, and offline CD-1 weights from the same frames."""
    rbm = session.rbm
    x, y = session.labelled_frames(everywhere=False)
    offline = None
    if len(y):
        online = (rbm.U_, rbm.d_)
        rbm.U_, rbm.d_ = session.offline_weights(x, y)
        offline = session.evaluate()
        rbm.U_, rbm.d_ = online
    return session.record_point(offline_accuracy=offline)


class CentreJudge(SimulatedLabeler):
    """A person deciding a cluster from what the clusters screen shows: the image shown large and
    the nearest real members under it (``MEMBERS_SHOWN``). Each real image is told as in every other
    mode (its ground truth, wrong at the error rate); a decoded centre is read by the reference
    classifier (no vote below ``unsure_below``).

    - A decoded centre (seed 003's screen): the cluster gets the majority class when at least
      ``unsure_below`` of the votes agree (high confidence when all do and the centre reads above
      ``sure_above``, medium otherwise), else "no class". With no members shown it is the centre alone.
    - A real image (the member nearest the centre, or a random pool image in the session's order): the
      person gives the image its class; the confidence says how far the members shown share it:
      high when all do, medium when at least ``unsure_below`` of them do, low otherwise.

    It never sees the members that are not shown."""

    def __init__(self, workspace: Workspace, settings: SimSettings) -> None:
        super().__init__(workspace, settings)
        pool = workspace.pool
        self._eyes: Eyes | None = None
        self.truth = TruthLabeler(pool.truth, pool.n_classes, settings.error_rate, self.rng)
        self.n_classes = pool.n_classes

    @property
    def eyes(self) -> Eyes:
        """The reference CNN, trained (or read from ``runs/``) the first time a decoded centre is
        shown: a real image is told by its truth, so a run of medoids never needs it."""
        if self._eyes is None:
            self._eyes = Eyes(reference_classifier(self.workspace), self.settings, self.n_classes, self.rng)
        return self._eyes

    def judge(self, image: np.ndarray, shown: Sequence[int] = ()) -> tuple[int | None, str]:
        """A decoded centre ``image`` and the pool items ``shown`` under it."""
        p = self.eyes.look(image)
        centre = self.eyes.decide(p)
        votes = ([] if centre is None else [centre]) + [self.truth.answer(int(i)) for i in shown]
        votes = [v for v in votes if v >= 0]
        if not votes:
            return None, "medium"
        counts = np.bincount(votes, minlength=self.n_classes)
        label = int(counts.argmax())
        if counts[label] < self.settings.unsure_below * len(votes):
            return None, "medium"
        unanimous = counts[label] == len(votes) and centre is not None and p.max() >= self.settings.sure_above
        return label, "high" if unanimous else "medium"

    def judge_item(self, item: int, shown: Sequence[int] = ()) -> tuple[int | None, str]:
        """The pool item ``item`` shown large and the pool items ``shown`` under it."""
        label = self.truth.answer(int(item))
        if label < 0:
            return None, "medium"
        votes = [self.truth.answer(int(i)) for i in shown]
        share = float(np.mean([v == label for v in votes])) if votes else 1.0
        return label, "high" if share == 1.0 else "medium" if share >= self.settings.unsure_below else "low"

    def act(self, session: Any, clock: SimClock) -> bool:
        centre = session.current
        if centre is None:
            return False
        clock.advance(self.settings.seconds_per_label)
        from .sessions.clusters.settings import MEMBERS_SHOWN

        shown = centre.shown_members(MEMBERS_SHOWN)
        if centre.medoid is None:
            label, level = self.judge(centre.image, shown)
        else:
            label, level = self.judge_item(centre.medoid, shown)
        if level != session.confidence:
            session.handle(Action("confidence", level))
        session.handle(Action("no_class") if label is None else Action("label", label))
        return True


class Reviewer(SimulatedLabeler):
    """Review's simulation. First a labeler who errs at ``error_rate`` labels ``labels`` random pool
    items (errors uniform over the other classes), in a session of their own; then the reviewer,
    who knows the truth, works down the review queue: Enter where the stored label is right, the
    true class where it is not. ``summary`` holds the injected errors, how many the queue found
    after each review, and test accuracy after training on the noisy, reviewed and clean labels."""

    def __init__(self, workspace: Workspace, settings: SimSettings) -> None:
        super().__init__(workspace, settings)
        pool = workspace.pool
        assert pool.truth is not None
        known = np.flatnonzero(pool.truth >= 0)
        n = min(settings.labels or len(known), len(known))
        self.items = np.sort(self.rng.choice(known, n, replace=False))
        first = TruthLabeler(pool.truth, pool.n_classes, settings.error_rate, self.rng)
        self.given = np.array([first.answer(int(i)) for i in self.items], np.int64)
        self.truth = pool.truth
        self.wrong = {int(i) for i, g in zip(self.items, self.given) if g != pool.truth[i]}
        store = workspace.store
        session = store.start_session("browse", "simulated-labeler")
        store.add_many(session, [(str(pool.ids[i]), int(g), 1.0) for i, g in zip(self.items, self.given)])
        self.found: list[int] = [0]  # errors found after each review
        self.reviewed = 0
        self.settings = replace(settings, labels=None)  # the budget was the first labeler's

    def act(self, session: Any, clock: SimClock) -> bool:
        index = session.shown_item()
        if index is None:
            return False
        clock.advance(self.settings.seconds_per_label)
        stored = session.page[session.focus].stored
        true = int(self.truth[index])
        if stored == true:
            session.handle(Action("keep"))
        else:
            session.handle(Action("label", true))
        self.reviewed += 1
        self.found.append(self.found[-1] + int(index in self.wrong and stored != true))
        return True

    def finish(self, session: BaseSession) -> None:
        """Each curve point gets the errors found by then; then the three models to compare."""
        for point in session.curve:
            point.extra["errors_found"] = self.found[min(point.extra.get("reviewed", point.labels), self.reviewed)]
        corrected = dict(zip(self.items.tolist(), self.given.tolist()))
        for index, ev in getattr(session, "current", {}).items():
            corrected[index] = ev.label
        for index in getattr(session, "settled", set()):
            if index not in session.current:  # type: ignore[attr-defined]
                corrected.pop(index, None)  # marked unusable
        final = getattr(session, "final_accuracy", None)
        self.accuracies: dict[str, float | None] = {}
        if final is not None:
            kept = np.array(sorted(corrected), np.int64)
            self.accuracies = {
                "noisy": final(self.items, self.given),
                "reviewed": final(kept, np.array([corrected[i] for i in kept], np.int64)),
                "clean": final(self.items, self.truth[self.items]),
            }
        session.curve.append(CurvePoint(self.reviewed, session.elapsed, self.accuracies.get("reviewed"), {
            "reviewed": self.reviewed, "errors_found": self.found[-1], "final": True}))

    def summary(self) -> dict[str, Any]:
        n = len(self.wrong)
        within = int(np.ceil(1.25 * n))
        return {
            "labelled": len(self.items),
            "injected_errors": n,
            "errors_found": self.found[-1],
            "reviewed": self.reviewed,
            "found_within_1.25x": self.found[min(within, self.reviewed)],
            "recall_within_1.25x": None if n == 0 else self.found[min(within, self.reviewed)] / n,
            "found_after": self.found,
            "accuracy_after_training": getattr(self, "accuracies", {}),
        }


# -- the driver -----------------------------------------------------------------------------------------


def _budget_left(settings: SimSettings, session: BaseSession, clock: SimClock) -> bool:
    if settings.labels is not None and session.spent >= settings.labels:
        return False
    if settings.epochs is not None and len(session.curve) >= settings.epochs:
        return False
    return not (settings.seconds is not None and clock() >= settings.seconds)


def drive(session: BaseSession, labeler: SimulatedLabeler, settings: SimSettings, clock: SimClock,
          report: Report | None = None) -> BaseSession:
    """Run ``labeler`` on ``session`` until the budget is spent, with updates as the screens run
    them: started when due, applied when their compute time has passed on ``clock``."""
    report = report or (lambda n, point: None)
    pending: tuple[float, Any, Any] | None = None  # (ready at, job, result)
    light: tuple[float, Any, Any] | None = None  # a light update (due_refresh), beside the main one

    def apply(entry: tuple[float, Any, Any]) -> None:
        clock.now = max(clock(), entry[0])
        session.apply(entry[1], entry[2])
        report(session.spent, session.curve[-1] if session.curve else None)

    def run(job: Any) -> tuple[float, Any, Any]:
        started = time.perf_counter()
        result = session.train(job)
        measured = time.perf_counter() - started
        session.persist(job, result)
        cost = measured if settings.compute == "measured" else session.compute_seconds(job, result)
        return clock() + cost, job, result

    labeler.prepare(session)
    while True:
        if light is not None and clock() >= light[0]:
            apply(light)
            light = None
        if pending is not None and clock() >= pending[0]:
            apply(pending)
            pending = None
        if light is None and session.due_refresh():
            light = run(session.refresh_snapshot())
            continue
        if pending is None and session.due_update():
            pending = run(session.snapshot())
            continue
        if not _budget_left(settings, session, clock):
            break
        if pending is not None and session.waiting():
            clock.now = pending[0]  # the person waits for the next centres
            continue
        if not labeler.act(session, clock):
            break
        report(session.spent, None)
    for entry in sorted((e for e in (light, pending) if e is not None), key=lambda e: e[0]):
        apply(entry)
    if settings.epochs is None or len(session.curve) < settings.epochs:
        points = len(session.curve)
        labeler.finish(session)
        if len(session.curve) > points:
            report(session.spent, session.curve[-1])
    return session


def run_simulation(workspace: Path, settings: SimSettings, out: Path, report: Report | None = None) -> dict:
    """Run one simulated session in a scratch label store under ``runs/`` and write its curve."""
    spec = mode_spec(settings.mode)
    if spec.labeler is None:
        raise TuilabelError(f"the {settings.mode} mode cannot be simulated yet")
    mode_settings = spec.make_settings(settings.options, seed=settings.seed)  # checked before any work
    if settings.labels is None and settings.seconds is None and settings.epochs is None:
        raise TuilabelError("give --labels, --seconds or --epochs to bound the simulated session")
    if not 0 <= settings.error_rate <= 1:
        raise TuilabelError(f"--error-rate {settings.error_rate} must be between 0 and 1")
    if settings.compute not in ("model", "measured"):
        raise TuilabelError(f"--compute {settings.compute!r}: expected model or measured")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"sim-{settings.mode}-{stamp}-{settings.seed}-{time.monotonic_ns() % 10**6}.sqlite"
    scratch = Path(workspace) / "runs" / name
    if Path(workspace).is_dir():
        scratch.parent.mkdir(exist_ok=True)  # a workspace whose runs/ was cleared out
    ws = Workspace(workspace, store_path=scratch)  # a scratch store; the pool read once
    ws.check()
    if ws.pool.truth is None or (ws.pool.truth < 0).all():
        ws.close()
        scratch.unlink(missing_ok=True)
        raise TuilabelError("the pool has no ground-truth labels to simulate a labeler with", workspace)
    started = time.perf_counter()
    clock = SimClock()
    labeler = spec.labeler_class()(ws, settings)
    session = spec.session_class().open(ws, mode_settings, clock=clock, annotator="simulated", save_models=False)
    clock.advance(session.setup_seconds())  # the embedding, charged once from the cost model
    drive(session, labeler, settings, clock, report)
    result = {
        "mode": settings.mode,
        "workspace": str(Path(workspace).resolve()),
        "settings": asdict(settings),
        "mode_settings": asdict(mode_settings),
        "test_items": len(ws.test) if ws.test is not None else 0,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "label_store": str(scratch),
        **labeler.summary(),
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
