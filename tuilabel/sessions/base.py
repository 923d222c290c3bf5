"""The headless core every mode follows: actions in, view state out, an explicit clock, and one
update cycle.

A session knows nothing of Textual. The TUI turns keys into `Action`s and draws `session.view()`;
a script or a simulated labeler sends the very same actions. Every label goes to the workspace's
label store before `handle` returns, so whatever the screen shows next is already on disk.

The update cycle (retraining the mode's model) is the same for every mode and every driver:

1. ``session.due_update()`` says an update is due (labels reached the schedule, a key asked);
2. ``job = session.snapshot()`` gathers what the update needs, on the session's thread;
3. ``result = session.train(job, progress)`` does the heavy part on any thread; it reads the job
   and the model, never the store, and reports ``progress(fraction, text)``;
4. ``session.persist(job, result)`` writes the model files and resume state (any thread), so
   whatever an update finished is kept even if nobody applies it (Esc, quit);
5. ``session.apply(job, result)`` takes the result on the session's thread: new ranking, curve
   point, guesses.

The screen base runs 3-4 in one Textual worker, the simulate driver runs them in line and moves
the simulated clock by ``session.compute_seconds(job, result)`` (a model of the compute, the same
on every machine), and a script calls ``session.update()`` (all five steps) or
``session.update_if_due()``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import TuilabelError
from ..memory import give_back
from ..models.augment import PRESETS
from ..store import LEASE_SECONDS
from ..workspace import Workspace
from .settings import Settings

Clock = Callable[[], float]
Progress = Callable[[float | None, str], None]  # (fraction done or None, what is happening)


def no_class_message(label: object, names: list[str]) -> str:
    """What a number key with no class says: which keys are which classes."""
    keys = ", ".join(f"{k} {name}" for k, name in enumerate(names[:10]))
    return f"no class {label}: keys are {keys}" + (" …" if len(names) > 10 else "")


def no_progress(fraction: float | None, text: str) -> None:
    """The progress callback of a driver that shows nothing."""


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


def cross_validated(y: np.ndarray, folds: int, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    seed: int = 0, weights: np.ndarray | None = None) -> float | None:
    """Accuracy estimated on the labels themselves when there is no test set: stratified ``folds``-fold
    cross-validation. ``fit_predict(train_idx, held_idx)`` trains on one part and returns the classes
    it predicts for the other. None when there are too few labels (fewer than two per fold).
    ``weights``: what each label counts for when held out (0: trains, never scored)."""
    y = np.asarray(y)
    if folds < 2 or len(y) < 2 * folds:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]  # by class, shuffled within: dealt round robin
    fold = np.empty(len(y), np.int64)
    fold[order] = np.arange(len(y)) % folds
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    correct = 0.0
    for k in range(folds):
        held, train = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        if w[held].any():
            correct += float(((np.asarray(fit_predict(train, held)) == y[held]) * w[held]).sum())
    return correct / float(w.sum())


AUGMENT_CHECKS = (4, 16)  # labels a class at which augment=auto measures its choice again
AUGMENT_KINDS = ("shift", "geometric")  # what augment=auto compares; shift, which suits more kinds of images, first


def better_augment(scores: dict[str, float]) -> str:
    """The kind of ``AUGMENT_KINDS`` with the better measured score; a tie keeps shift."""
    return "geometric" if scores["geometric"] > scores["shift"] else "shift"


def choose_augment(y: np.ndarray, n_classes: int, current: str, checked: int,
                   fit_predict: Callable[[str, np.ndarray, np.ndarray], np.ndarray],
                   seed: int = 0, levels: tuple[int, ...] = AUGMENT_CHECKS,
                   per_class: str = "least") -> tuple[str, dict[str, float], int]:
    """``augment=auto`` (batch and clusters): once a person's labels ``y`` reach 4 and then 16 a
    class (``levels``; counting the class with the fewest, or with ``per_class="mean"`` the labels
    over the classes), cross-validate each kind of augmentation on them (the same folds) and keep
    the better; a tie keeps shift, which suits more kinds of images. ``fit_predict(kind, train_idx,
    held_idx)`` trains with that kind and returns its classes for the held part. Returns the choice,
    the accuracies (empty when nothing was due) and the level it was measured at (``checked`` when
    nothing was due)."""
    counts = np.bincount(np.asarray(y, np.int64), minlength=n_classes) if len(y) else np.zeros(1, np.int64)
    reached = int(counts.min()) if per_class == "least" else len(y) // max(n_classes, 1)
    due = [n for n in levels if reached >= n > checked]
    if not due:
        return current, {}, checked
    scores: dict[str, float] = {}
    for kind in AUGMENT_KINDS:
        def one(train: np.ndarray, held: np.ndarray, kind: str = kind) -> np.ndarray:
            return fit_predict(kind, train, held)

        scores[kind] = cross_validated(y, 3, one, seed) or 0.0
    return better_augment(scores), scores, due[-1]


def measured_augment(workspace: Workspace) -> str | None:
    """The augmentation ``augment=auto`` chose from a person's labels in another mode of this
    workspace (the saved state of each mode whose spec says it measures one: the kind and the labels
    a class it was measured at), the one measured on the most labels; None when none has measured it."""
    from .registry import MODES

    best: tuple[int, str] | None = None
    for mode in (m.name for m in MODES if m.measures_augment):
        try:
            state = json.loads(workspace.model_path(f"{mode}-state").read_text())
        except (OSError, ValueError):
            continue  # none saved, or unreadable: that mode's own open says so
        kind, checked = state.get("augment"), state.get("augment_checked")
        if state.get("items") != len(workspace.pool) or kind not in PRESETS or not isinstance(checked, int):
            continue
        if checked > 0 and (best is None or checked > best[0]):
            best = (checked, kind)
    return None if best is None else best[1]


class SimClock:
    """A clock that only moves when told to: simulated labelers spend time explicitly."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class ComputeCosts:
    """Seconds a unit of work takes on the reference machine (this project's 2-core CPU), so that a
    simulated labeler's clock moves the same on any machine. Measured there, quiet, with
    ``benchmarks/bench_compute.py`` (medians of 3; the CNN's units inside real batch rounds;
    2026-11-23). ``tuilabel simulate --compute measured`` charges the real time instead."""

    cnn_image_epoch: float = 4.2e-4  # one image through the small CNN once in training, with augmentation
    cnn_view: float = 3.3e-4  # one augmented view of one image scored by the small CNN
    vae_sample: float = 8.2e-5  # one image through the VAE once in training
    cluster_item: float = 4.0e-5  # encoding, k-means (k=32) and decoding, per pool image
    linear_image: float = 2.0e-5  # softmax regression, per labelled image
    graph_pair: float = 5.7e-9  # one similarity of the k-nearest-neighbour search (128 features), per pair
    evaluation_item: float = 1.6e-4  # one test image through the small CNN
    rbm_label_pass: float = 6.0e-6  # one frame through one CD-1 pass of the label weights (500 hidden)
    rbm_hidden: float = 5.6e-6  # one frame's hidden probabilities (500 hidden units)
    embed_image: float = 3.0e-2  # one image through EfficientNet-Lite0 at 224 pixels (a quarter of it at 112)
    head_fit: float = 0.5  # one fit of the batch head (1,280 features, up to a few hundred labels; L-BFGS)
    head_item: float = 1.0e-5  # the head's probabilities and ranking, per unlabelled pool image


COSTS = ComputeCosts()


class BaseSession:
    """Shared plumbing: the workspace, a store session id, the clock, the learning curve, and the
    update cycle's defaults (a mode with a model overrides the five steps)."""

    mode: ClassVar[str] = "base"
    settings_class: ClassVar[type[Settings]] = Settings
    waits_for_update: ClassVar[bool] = False  # the person cannot label while an update runs (clusters)

    def __init__(
        self,
        workspace: Workspace,
        settings: Settings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
    ) -> None:
        if settings is not None and not isinstance(settings, self.settings_class):
            raise TuilabelError(f"the {self.mode} mode takes {self.settings_class.__name__}, "
                                f"not {type(settings).__name__}")
        self.settings = settings if settings is not None else self.settings_class()
        self.workspace = workspace
        self.store = workspace.store
        self.pool = workspace.pool
        self.clock: Clock = clock or time.monotonic
        self.started = self.clock()
        self.save_models = save_models  # simulations keep their models apart from the workspace's
        self.session_id = self.store.start_session(self.session_mode(), annotator)
        self.curve: list[CurvePoint] = []
        self.message = ""
        self.updating = False
        self.refreshing = False
        self.overlap = int(getattr(self.settings, "overlap", 1))  # TeamSettings: items per annotator
        self._leased = False
        self._renewed = time.monotonic()

    def session_mode(self) -> str:
        """The mode name the store records this session's labels under."""
        return self.mode

    def waiting(self) -> bool:
        """Whether the person has nothing to do until the running update lands."""
        return self.updating and self.waits_for_update

    @classmethod
    def prepare(cls, workspace: Workspace, settings: Settings | None = None, progress: Progress = no_progress,
                save_models: bool = True) -> dict[str, Any]:
        """The models the session opens with (keyword arguments of the constructor), loaded, or
        trained first where the workspace lacks them. Any thread: it never touches the store."""
        return {}

    @classmethod
    def needs_preparing(cls, workspace: Workspace, settings: Settings | None = None) -> bool:
        """Whether `prepare` has slow work to do (a screen runs it on a worker then)."""
        return False

    @classmethod
    def open(cls, workspace: Workspace, settings: Settings | None = None, progress: Progress = no_progress,
             **kwargs: Any) -> BaseSession:
        """`prepare`, then the session: what a script or the simulate driver calls."""
        parts = cls.prepare(workspace, settings, progress, kwargs.get("save_models", True))
        return cls(workspace, settings, **{**parts, **kwargs})

    def setup_seconds(self) -> float:
        """Compute the session's opening costs on the reference CPU beyond what a person waits for
        anyway (a simulation charges it once to its clock): the backbone's embedding, say."""
        return 0.0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def spent(self) -> int:
        """Labels this session has spent (what a simulated labeler's budget counts)."""
        return 0

    def human_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Every item a person gave a class (unsure left out): pool indices and classes."""
        pairs = [(i, lab) for i, (lab, _) in self.store.current(("human",)).items() if lab is not None]
        idx = self.pool.indices_of([i for i, _ in pairs])
        return idx, np.array([lab for _, lab in pairs], dtype=np.int64)

    def known_class(self, label: object) -> bool:
        """Whether a number key names a class; if not, the message says which keys are which."""
        if 0 <= int(label) < self.pool.n_classes:  # type: ignore[call-overload]
            return True
        if self.follow_classes() and 0 <= int(label) < self.pool.n_classes:  # type: ignore[call-overload]
            return True  # a class added from another terminal a moment ago
        self.message = no_class_message(label, self.pool.class_names)
        return False

    def follow_classes(self) -> bool:
        """Classes added or renamed since the session opened (`tuilabel classes`, another terminal):
        the pool takes them and the mode's models make room (`classes_changed`). True if they changed."""
        before = len(self.pool.class_names)
        if not self.workspace.reload_classes():
            return False
        self.classes_changed(before)
        self.message = f"the classes are now {', '.join(self.pool.class_names)}"
        return True

    def classes_changed(self, before: int) -> None:
        """The pool had ``before`` classes and has more (or renamed ones) now: a mode whose models
        hold one row a class grows them here. Models fitted afresh each update need nothing."""

    def shown_item(self) -> int | None:
        """The pool index a label key applies to now (None: no pool image is shown)."""
        return None

    def close(self) -> None:
        """The session ends (the screen leaves, the app quits): save what is not saved yet, and give
        back the items it held (a subclass that overrides this calls it too)."""
        self.give_back_leases()

    def give_back_leases(self) -> None:
        """Every item this session holds, back to the other annotators (a store that is away: they
        expire on their own)."""
        if self._leased:
            try:
                self.store.release(self.session_id)
            except TuilabelError:
                if self.store.unreachable_since is None:
                    raise
            self._leased = False

    def handle(self, action: Action) -> None:
        method = getattr(self, f"do_{action.name}", None)
        if method is None:
            raise ValueError(f"{self.mode} session has no action {action.name!r}")
        if action.value is None:
            method()
        else:
            method(action.value)
        if self._leased and time.monotonic() - self._renewed > LEASE_SECONDS / 4:  # still here
            with contextlib.suppress(TuilabelError):  # a store that is away: renewed once it is back
                self.store.renew(self.session_id)
                self._renewed = time.monotonic()

    # -- who shows what: leases, so that concurrent annotators get different items ----------------

    def claim(self, indices: Iterable[int], n: int, fresh: bool = True) -> list[int]:
        """Up to ``n`` of ``indices`` (pool indices, in order, read lazily) that no other annotator
        holds (fewer than ``overlap`` of them), leased to this session. ``fresh``: items this
        annotator labelled, or ``overlap`` others did, are passed over as well."""
        ids = self.pool.ids
        wanted = (str(ids[int(i)]) for i in indices)
        try:
            got = self.store.claim(self.session_id, wanted, n, overlap=self.overlap, fresh=fresh)
        except TuilabelError:
            if self.store.unreachable_since is None:
                raise
            # the store is away (its labels wait in the journal): the next items without a lease; another
            # annotator may get one of them too meanwhile, which review's agreement then shows
            return [self.pool.index_of(item) for item in itertools.islice(wanted, n)]
        if got:
            self._leased = True
        return [self.pool.index_of(item) for item in got]

    def release(self, indices: Iterable[int]) -> None:
        """Give these items back (skipped, or left on a page): another annotator may have them."""
        items = [str(self.pool.ids[int(i)]) for i in indices]
        if items and self._leased:
            self.store.release(self.session_id, items)

    # -- the update cycle -----------------------------------------------------------------------

    def due_refresh(self) -> bool:
        """A light update (a second or so: the batch mode's head on a backbone's embeddings) is due.
        It runs beside the main update, through the same `train`, `persist` and `apply`, so that
        what a person sees stays fresh while a long update runs; `refreshing` says one is running."""
        return False

    def refresh_snapshot(self) -> Any:
        """What the light update needs, read on the session's thread; marks ``refreshing``."""
        raise NotImplementedError

    def due_update(self) -> bool:
        """Whether an update should start now."""
        return False

    def snapshot(self) -> Any:
        """What the update needs, read on the session's thread; marks the session as updating."""
        raise NotImplementedError(f"the {self.mode} mode has no model to update")

    def train(self, job: Any, progress: Progress = no_progress) -> Any:
        """The heavy part: runs on any thread, reads the job and the model, never the store."""
        raise NotImplementedError

    def persist(self, job: Any, result: Any) -> None:
        """Write what the update made (model files, resume state); any thread. Only with save_models."""

    def apply(self, job: Any, result: Any) -> None:
        """Take the result on the session's thread."""
        raise NotImplementedError

    def compute_seconds(self, job: Any, result: Any) -> float:
        """How long the update takes on the reference machine (see `ComputeCosts`)."""
        return 0.0

    def update(self, progress: Progress = no_progress) -> Any:
        """The whole cycle in line: what a script calls. Returns the result."""
        self.follow_classes()
        return self._run_in_line(self.snapshot(), progress)

    def _run_in_line(self, job: Any, progress: Progress) -> Any:
        """Steps 3 to 5 of a job already snapshotted (an update's or a light update's)."""
        result = self.work(job, progress)
        self.apply(job, result)
        return result

    def work(self, job: Any, progress: Progress = no_progress) -> Any:
        """Steps 3 and 4 (any thread): train, persist, and give the heap's freed pages back to the
        system, so that resident memory stays flat over hundreds of updates (`tuilabel.memory`)."""
        result = self.train(job, progress)
        self.persist(job, result)
        give_back()
        return result

    def update_if_due(self, progress: Progress = no_progress) -> bool:
        """Run a light update and an update if due, in line; after each `handle` in a script."""
        ran = False
        if not self.refreshing and self.due_refresh():
            self._run_in_line(self.refresh_snapshot(), progress)
            ran = True
        if self.updating or not self.due_update():
            return ran
        self.update(progress)
        return True

    # -- resume state -----------------------------------------------------------------------------

    def curve_records(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self.curve]

    def save_state(self, state: dict[str, Any]) -> None:
        """The mode's resume state (small, JSON) beside its model files, written atomically."""
        if not self.save_models:
            return
        path = self.workspace.model_path(f"{self.mode}-state")
        state = {"mode": self.mode, "items": len(self.pool), "classes": self.pool.class_names, **state}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)

    def load_state(self) -> dict[str, Any] | None:
        """The resume state a previous session of this mode left, checked against the pool."""
        path = self.workspace.model_path(f"{self.mode}-state")
        if not self.save_models or not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise TuilabelError(f"cannot read the {self.mode} mode's saved state ({exc})", path) from None
        if state.get("items") != len(self.pool) or state.get("classes") != self.pool.class_names:
            raise TuilabelError(f"saved for another pool ({state.get('items')} items, classes "
                                f"{state.get('classes')}); delete it to start the {self.mode} mode afresh", path)
        self.curve = [CurvePoint(**p) for p in state.get("curve", [])]
        return state

    def estimate(self, accuracy: float | None) -> str:
        """What a curve point's accuracy is: "test" (the test set), "cv" (cross-validated on the
        labels, without a test set) or "none"; `CurvePoint.extra["estimate"]`, read by the screens."""
        if accuracy is None:
            return "none"
        test = self.workspace.test
        return "test" if test is not None and test.truth is not None else "cv"

    def test_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The test set as model input and its classes, or None without one."""
        test = self.workspace.test
        if test is None or test.truth is None:
            return None
        return test.as_float(), test.truth
