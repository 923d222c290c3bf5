"""Stream: an RBM trained without labels plays a video of its own Gibbs samples (seed 000).

A chain starts from a random pool image and takes one Gibbs step (v -> h -> v) per frame; after
``chain_length`` steps it restarts from another pool image. Number keys set a sticky label: every
frame shown while it is active is stored with its pixels and label, and (online learning) updates
the label weights with the seed's rule. Changing the label, to another class or to unsure, takes
back the last few labelled frames and their updates (reaction time lets wrong labels slip in at
class transitions). Autospeed slows frames the model is unsure of; "don't show if sure" skips
chains whose starting image the model already labels with high confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..data import to_model_input
from ..errors import TuilabelError
from ..models.rbm import RBM, grown_labels, pick_device
from ..workspace import Workspace
from .base import COSTS, BaseSession, Clock, CurvePoint, Progress, no_progress
from .settings import MODEL_GROUP, Settings, setting

MODEL = "rbm"  # the model file this mode keeps (see Workspace.model_path)
MIN_FPS, MAX_FPS = 0.5, 60.0
START_WINDOW = 10  # a chain's first frames: the ones that still look like its starting pool image
MAX_SLOWDOWN = 3.0  # autospeed: a frame the model has no idea about lasts this many times longer
AUTOSPEED_AFTER = 50  # labelled frames before autospeed acts (an untrained model is unsure of every frame)
EVALUATE_EVERY = 25  # labelled frames between the test evaluations the screen shows
SURE = 0.8  # skip_sure: a chain start the model gives more than this is skipped (seed 000)
FAST_LEARNING_RATE = 0.002  # of the fast weights (Tieleman and Hinton 2009)
# labelled frames undo can still reach (33 s at 30 fps); older ones are only counted: a tuple (and
# an online update's tensors) kept per frame of an all-day session pin memory (+97 MB over 30
# minutes at 30 fps; `benchmarks/bench_soak.py`)
UNDO_REACH = 1000


@dataclass
class StreamSettings(Settings):
    mode = "stream"
    fps: float = setting(6.0, "frames a second", min=MIN_FPS, max=MAX_FPS)
    chain_length: int = setting(10, "Gibbs steps before a chain restarts from a fresh pool image", min=1)
    autospeed: bool = setting(True, "frames the model is unsure of play slower (up to 3 times, after 50 "
                                    "labelled frames)")
    skip_sure: bool = setting(False, "don't show chains whose start the model is already sure of (above 0.8)")
    online: bool = setting(True, "learn the label weights from each labelled frame as it is shown")
    undo_on_change: int = setting(5, "labelled frames taken back when the label changes", min=0)
    fast_weights: bool = setting(False, "fast weights push the chain out of the minimum it just visited")
    offline_every: int = setting(500, "labelled frames between offline retrains of the label weights, in the "
                                 "background (0: only when asked)", min=0)
    label_start: bool = setting(True, "a chain's starting pool image takes the label its first frames were given")
    seed: int = setting(0, "which pool images start the chains", min=0)
    preset: str = setting("none", "a named set of the values above: seed000 is seed 000's stream (chains of 30, "
                              "frames only, offline training only when asked); a value you set wins",
                          choices=("none", "seed000"))
    online_learning_rate: float = setting(0.05, "learning rate of the online label-weight rule", min=0.0,
                                          group=MODEL_GROUP)
    offline_epochs: int = setting(50, "CD-1 passes of offline label-weight training", min=1, group=MODEL_GROUP)
    offline_learning_rate: float = setting(0.2, "learning rate of offline label-weight training", min=0.0,
                                           group=MODEL_GROUP)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "seed000": {"chain_length": 30, "label_start": False, "offline_every": 0},
    }


@dataclass
class OfflineJob:
    x: np.ndarray  # the RBM's input vectors of the labelled frames and start images
    y: np.ndarray
    seed: int
    last_event: int  # the newest labelled frame it includes: later ones' online updates are re-applied


@dataclass
class StreamView:
    frame: np.ndarray  # uint8, the pool's image shape
    label: int | None  # the active (sticky) label
    probs: np.ndarray  # the model's label probabilities for this frame
    fps: float  # base speed
    effective_fps: float  # after autospeed
    autospeed: bool
    skip_sure: bool
    online: bool
    fast_weights: bool
    paused: bool
    chain_step: int
    chains: int
    skipped_chains: int
    starts_labelled: int  # chains whose starting pool image took a label
    frames: int
    labelled_frames: int
    per_class: list[int]
    accuracy: float | None
    message: str


class StreamSession(BaseSession):
    mode = "stream"
    settings_class = StreamSettings
    settings: StreamSettings

    def __init__(
        self,
        workspace: Workspace,
        settings: StreamSettings | None = None,
        clock: Clock | None = None,
        annotator: str | None = None,
        save_models: bool = True,
        rbm: RBM | None = None,
    ) -> None:
        super().__init__(workspace, settings, clock, annotator, save_models)
        if rbm is None:
            if not workspace.has_model(MODEL):
                raise TuilabelError("no RBM yet: run `tuilabel train WORKSPACE --model rbm` first", workspace.path)
            rbm = workspace.load_model(MODEL, RBM.load)
        self.rbm = rbm
        rbm.grow_classes(self.pool.n_classes)  # classes added since it was saved: no opinion of them yet
        self.rbm.config.fast_learning_rate = FAST_LEARNING_RATE
        self.rng = np.random.default_rng(self.settings.seed)
        self.shape = self.pool.image_shape
        self.label: int | None = None
        self.paused = False
        self.chain_step = 0
        self.chains = 0
        self.skipped_chains = 0
        self.frames = 0
        self.per_class = [0] * self.pool.n_classes
        self.accuracy: float | None = None
        self.offline_requested = False
        self.since_offline = 0  # labelled frames since the last offline retrain started
        self.start_index: int | None = None  # the pool image the current chain started from
        self.start_v: torch.Tensor | None = None  # and its RBM input vector
        self.chain_events: list[tuple[int, int]] = []  # (event id, chain step) of this chain's labelled frames
        self.starts_labelled = 0
        self._test_input: np.ndarray | None = None
        # (event id, label, online update record or None), newest last: what undo takes back, the
        # last UNDO_REACH frames and those whose online updates an offline retrain has not yet baked in
        self.labelled: list[tuple[int, int, tuple | None]] = []
        self.labelled_count = 0  # labelled frames this session has given and not taken back
        self._retrain_from = -1  # the newest labelled frame the running offline retrain includes
        self.v: torch.Tensor = torch.zeros(0)
        self.h: torch.Tensor = torch.zeros(0)
        self.next_frame_at = self.clock()
        self._restart_chain()
        self._advance(store=False)

    @classmethod
    def needs_preparing(cls, workspace: Workspace, settings: Settings | None = None) -> bool:
        return not workspace.has_model(MODEL)

    @classmethod
    def prepare(cls, workspace: Workspace, settings: Settings | None = None, progress: Progress = no_progress,
                save_models: bool = True) -> dict[str, Any]:
        """The workspace's RBM, trained first without labels when there is none."""
        if workspace.has_model(MODEL):
            rbm = workspace.load_model(MODEL, RBM.load)
        else:
            rbm = fit_on_pool(RBM(), workspace, progress, "training the RBM without labels: ")
            if save_models:
                rbm.save(workspace.model_path(MODEL))
        return {"rbm": rbm}

    @property
    def spent(self) -> int:
        return self.labelled_count

    def close(self) -> None:
        """The RBM with the label weights learned so far, for the next session."""
        if self.save_models:
            self.rbm.save(self.workspace.model_path(MODEL))
        super().close()

    # -- the video ------------------------------------------------------------------------------

    def _pool_vector(self, index: int) -> torch.Tensor:
        return self.rbm._tensor(self.pool.as_float(np.array([index])))

    def _label_start(self) -> None:
        """The ending chain's starting pool image takes the label of its first frames, when every
        live labelled frame among the first ``START_WINDOW`` steps has one class and at least a third
        of them were labelled: stored as a "propagated" label of that pool item (confidence: the
        labelled fraction), and learned online like a frame. Real images beside the model's samples."""
        events, self.chain_events = self.chain_events, []
        if not self.settings.label_start or self.start_index is None or not events:
            return
        window = min(START_WINDOW, self.settings.chain_length)
        live = {event: label for event, label, _ in self.labelled[-len(events):]}
        labels = [live[event] for event, step in events if step <= window and event in live]
        if not labels or len(set(labels)) != 1 or 3 * len(labels) < window:
            return
        label = labels[0]
        item = str(self.pool.ids[self.start_index])
        self.store.add(self.session_id, item, label, source="propagated", confidence=len(labels) / window)
        if self.settings.online and self.start_v is not None:
            self.rbm.online_update(self.rbm.hidden_probs(self.start_v), label, self.settings.online_learning_rate)
        self.starts_labelled += 1

    def _restart_chain(self) -> None:
        """A fresh pool image; with "don't show if sure", skip ones the model is sure of."""
        self._label_start()
        tries = 50 if self.settings.skip_sure else 1
        for _ in range(tries):
            index = int(self.rng.integers(len(self.pool)))
            v = self._pool_vector(index)
            if not self.settings.skip_sure:
                break
            p = self.rbm.label_probs_from_hidden(self.rbm.hidden_probs(v))
            if float(p.max()) <= SURE:
                break
            self.skipped_chains += 1
        self.v = self.start_v = v
        self.start_index = index
        self.chain_step = 0
        self.chains += 1
        if self.settings.fast_weights:
            self.rbm.reset_fast_weights()

    def _advance(self, store: bool = True) -> None:
        if self.chain_step >= self.settings.chain_length:
            self._restart_chain()
        self.v, self.h = self.rbm.gibbs_step(self.v, fast=self.settings.fast_weights)
        self.chain_step += 1
        self.frames += 1
        self.probs = self.rbm.label_probs_from_hidden(self.h)[0].cpu().numpy()
        self.frame = self._to_image(self.v)
        if store and self.label is not None:
            self._store_frame()
        self.next_frame_at += self.frame_interval()

    def _to_image(self, v: torch.Tensor) -> np.ndarray:
        pixels = np.clip(v.reshape(-1).cpu().numpy() * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if len(self.shape) == 3:  # channels last, as pools keep them
            c, h, w = self.shape[2], self.shape[0], self.shape[1]
            return np.moveaxis(pixels.reshape(c, h, w), 0, -1)
        return pixels.reshape(self.shape)

    def _store_frame(self) -> None:
        assert self.label is not None
        event = self.store.add(self.session_id, None, self.label, sample=self.frame)
        record = (
            self.rbm.online_update(self.h, self.label, self.settings.online_learning_rate)
            if self.settings.online else None
        )
        self.labelled.append((event, self.label, record))
        self.labelled_count += 1
        self.chain_events.append((event, self.chain_step))
        self.since_offline += 1
        self.per_class[self.label] += 1
        if len(self.labelled) >= 2 * self._reach:
            self._forget_old_frames()
        if self.labelled_count % EVALUATE_EVERY == 0:
            self.evaluate()

    @property
    def _reach(self) -> int:
        return max(UNDO_REACH, self.settings.chain_length)

    def _forget_old_frames(self) -> None:
        """Drop the frames beyond undo's reach (counted still), but while an offline retrain runs,
        not those labelled since its snapshot: their online updates go again on top of its weights."""
        cut = len(self.labelled) - self._reach
        if self.updating:
            cut = min(cut, next((i for i, (event, _, _) in enumerate(self.labelled) if event > self._retrain_from),
                                cut))
        del self.labelled[:max(0, cut)]

    def classes_changed(self, before: int) -> None:
        """A class added on a live workspace: its label unit (zero weights) and its count."""
        self.rbm.grow_classes(self.pool.n_classes)
        self.per_class += [0] * (self.pool.n_classes - len(self.per_class))

    def frame_interval(self) -> float:
        interval = 1.0 / self.settings.fps
        if self.settings.autospeed and self.labelled_count >= AUTOSPEED_AFTER:
            k = len(self.probs)
            unsure = (1.0 - float(self.probs.max())) / (1.0 - 1.0 / k) if k > 1 else 0.0
            interval *= 1.0 + (MAX_SLOWDOWN - 1.0) * min(max(unsure, 0.0), 1.0)
        return interval

    def tick(self) -> int:
        """Advance as many frames as the clock says are due; returns how many were shown."""
        if self.paused:
            self.next_frame_at = self.clock()
            return 0
        now = self.clock()
        if now - self.next_frame_at > 1.0:  # far behind (a slow terminal): drop late ticks
            self.next_frame_at = now
        shown = 0
        while now >= self.next_frame_at and shown < 10:
            self._advance()
            shown += 1
        return shown

    # -- actions --------------------------------------------------------------------------------

    def _take_back(self, n: int, only_label: int | None = None) -> int:
        """Undo the last ``n`` labelled frames (only trailing ones of ``only_label`` if given):
        their store events and their online updates."""
        taken = 0
        while taken < n and self.labelled and (only_label is None or self.labelled[-1][1] == only_label):
            _, label, record = self.labelled.pop()
            if record is not None:
                self.rbm.undo_update(record)
            self.per_class[label] -= 1
            self.labelled_count -= 1
            taken += 1
        if taken:
            self.store.undo(self.session_id, taken)
        return taken

    def do_label(self, label: int) -> None:
        """Set the sticky label: every frame from now on is labelled with it."""
        if not self.known_class(label):
            return
        label = int(label)
        if label == self.label:
            return
        taken = self._take_back(self.settings.undo_on_change, self.label) if self.label is not None else 0
        self.label = label
        self.message = f"labelling {self.pool.class_names[label]}" + (f" (took back {taken} frames)" if taken else "")

    def do_unsure(self) -> None:
        """Clear the sticky label: frames are no longer labelled."""
        if self.label is None:
            return
        taken = self._take_back(self.settings.undo_on_change, self.label)
        self.label = None
        self.message = "stopped: frames are not labelled" + (f" (took back {taken} frames)" if taken else "")

    def do_undo(self) -> None:
        """Take back the last labelled frames (and stop labelling)."""
        taken = self._take_back(self.settings.undo_on_change)
        self.label = None
        self.message = f"took back {taken} labelled frames" if taken else "nothing to undo"

    def do_pause(self) -> None:
        """Pause or resume the video."""
        self.paused = not self.paused
        self.next_frame_at = self.clock()
        self.message = "paused" if self.paused else "playing"

    def do_step(self) -> None:
        """Show the next frame (while paused)."""
        self._advance()

    def do_faster(self) -> None:
        """Play faster."""
        self.settings.fps = min(MAX_FPS, round(self.settings.fps * 1.25, 2))

    def do_slower(self) -> None:
        """Play slower."""
        self.settings.fps = max(MIN_FPS, round(self.settings.fps / 1.25, 2))

    def do_toggle_autospeed(self) -> None:
        """Slow down on frames the model is unsure about."""
        self.settings.autospeed = not self.settings.autospeed

    def do_toggle_skip_sure(self) -> None:
        """Skip chains the model is already sure about (top probability above 0.8)."""
        self.settings.skip_sure = not self.settings.skip_sure

    def do_toggle_online(self) -> None:
        """Learn from each labelled frame as it is shown."""
        self.settings.online = not self.settings.online

    def do_toggle_fast_weights(self) -> None:
        """Fast weights push the chain out of the minimum it just visited."""
        self.settings.fast_weights = not self.settings.fast_weights
        self.rbm.config.fast_learning_rate = FAST_LEARNING_RATE
        self.rbm.reset_fast_weights()

    def do_next_chain(self) -> None:
        """Start a new chain from another pool image now."""
        self.chain_step = self.settings.chain_length

    # -- offline learning and evaluation ---------------------------------------------------------

    def labelled_frames(self, everywhere: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Every stored stream frame with a class, and the chains' starting pool images that took
        a label (`label_start`), as the RBM's input vectors, and their labels."""
        x, y, _ = stream_training_set(self.workspace, None if everywhere else self.session_id)
        return x, y

    def offline_weights(self, x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Label weights retrained from stored frames with CD-1 passes (W fixed), on a copy: safe to
        run on another thread while the video plays."""
        twin = self.rbm.label_copy(seed)
        twin.fit_labels(x, y, epochs=self.settings.offline_epochs, lr=self.settings.offline_learning_rate, seed=seed)
        return twin.U_, twin.d_

    def do_train_offline(self) -> None:
        """Retrain the label weights from every stored frame (offline learning)."""
        # counted, not read: the log's counts are cached, the frames' pixels are not
        counts = self.store.counts()
        if not any(n for (source, label), n in counts.items() if source == "sample" and label is not None):
            self.message = "no labelled frames yet: press a number key while the video plays first"
            return
        self.offline_requested = True
        self.message = "training the label weights offline…"

    # -- the update cycle: offline label weights, when asked ------------------------------------------

    def due_update(self) -> bool:
        if self.updating:
            return False
        every = self.settings.offline_every
        return self.offline_requested or bool(every and self.since_offline >= every)

    def snapshot(self) -> OfflineJob:
        self.offline_requested = False
        self.since_offline = 0
        self.updating = True
        x, y = self.labelled_frames()
        last = self.labelled[-1][0] if self.labelled else -1
        self._retrain_from = last
        return OfflineJob(x, y, int(self.rng.integers(2**31)), last)

    def train(self, job: OfflineJob, progress: Progress = no_progress) -> Any:
        progress(None, f"label weights from {len(job.y)} stored frames")
        return self.offline_weights(job.x, job.y, job.seed)

    def compute_seconds(self, job: OfflineJob, result: Any) -> float:
        return len(job.y) * (self.settings.offline_epochs * COSTS.rbm_label_pass + COSTS.rbm_hidden) * (
            self.rbm.config.n_hidden / 500)

    def apply(self, job: OfflineJob, result: Any) -> None:
        """The new label weights, with the online updates of frames labelled while they trained
        on top; evaluated, and the RBM saved (here, on the thread that changes it)."""
        self.updating = False
        later = [record for event, _, record in self.labelled if event > job.last_event and record is not None]
        # a class added while it trained: its label unit joins with no opinion yet
        self.rbm.U_, self.rbm.d_ = grown_labels(result[0].clone(), result[1].clone(), self.pool.n_classes)
        for record in later:
            self.rbm.redo_update(record)
        self.labelled = [(event, label, None if event <= job.last_event else record)
                         for event, label, record in self.labelled]  # the earlier ones are baked in
        self.evaluate()
        self.message = f"label weights retrained offline on {len(job.y)} frames and start images"
        self.close()

    def evaluate(self) -> float | None:
        test = self.workspace.test
        if test is None:
            return None
        if self._test_input is None:  # converted once: this runs every few frames in the frame loop
            self._test_input = test.as_float().reshape(len(test), -1)
        assert test.truth is not None
        self.accuracy = self.rbm.score(self._test_input, test.truth)
        return self.accuracy

    def record_point(self, offline_accuracy: float | None = None) -> CurvePoint:
        extra: dict[str, Any] = {"frames": self.frames, "labelled_frames": self.labelled_count}
        if offline_accuracy is not None:
            extra["offline_accuracy"] = offline_accuracy
        point = CurvePoint(self.labelled_count, self.elapsed, self.evaluate(), extra)
        self.curve.append(point)
        return point

    # -- the view -------------------------------------------------------------------------------

    def view(self) -> StreamView:
        interval = self.frame_interval()
        return StreamView(
            frame=self.frame,
            label=self.label,
            probs=self.probs,
            fps=self.settings.fps,
            effective_fps=1.0 / interval,
            autospeed=self.settings.autospeed,
            skip_sure=self.settings.skip_sure,
            online=self.settings.online,
            fast_weights=self.settings.fast_weights,
            paused=self.paused,
            chain_step=self.chain_step,
            chains=self.chains,
            skipped_chains=self.skipped_chains,
            starts_labelled=self.starts_labelled,
            frames=self.frames,
            labelled_frames=sum(self.per_class),
            per_class=list(self.per_class),
            accuracy=self.accuracy,
            message=self.message,
        )


# -- `tuilabel train --model rbm | rbm-labels` and `tuilabel eval` -----------------------------------


def fit_on_pool(rbm: RBM, workspace: Workspace, progress: Progress, what: str = "") -> RBM:
    """``rbm`` trained without labels on the workspace's pool, each epoch reported."""
    pool = workspace.pool

    def step(epoch: int, err: float) -> None:
        progress(epoch / rbm.epochs_, f"{what}epoch {epoch}/{rbm.epochs_}, reconstruction error {err:.2f}")

    return rbm.fit(pool.as_float().reshape(len(pool), -1), pool.n_classes, progress=step)


def train_rbm(workspace: Workspace, request: Any, progress: Progress = no_progress) -> str:
    """The RBM without labels. ``request``: epochs, seed, device and the RBM's own options
    (``hidden``, ``cd_k``, ``persistent``, ``learning_rate``)."""
    options = request.extra
    overrides: dict[str, Any] = {"epochs": request.epochs or 0, "n_hidden": options.get("hidden") or 500,
                                 "seed": request.seed}
    if options.get("persistent"):  # PCD diverges at CD's rate: a smaller one, one step, less momentum
        overrides.update(persistent=True, learning_rate=0.005, cd_k=1, final_momentum=0.5)
    if options.get("cd_k") is not None:
        overrides["cd_k"] = options["cd_k"]
    if options.get("learning_rate") is not None:
        overrides["learning_rate"] = options["learning_rate"]
    rbm = RBM(device=request.device, **overrides)
    pool = workspace.pool
    cfg = rbm.config
    progress(0.0, f"training an RBM ({cfg.n_hidden} hidden, {'PCD' if cfg.persistent else 'CD'}-{cfg.cd_k}) on "
             f"{len(pool)} images without labels, on {pick_device(request.device)}")
    fit_on_pool(rbm, workspace, progress)
    path = workspace.model_path(MODEL)
    rbm.save(path)
    return f"saved {path}"


def stream_training_set(workspace: Workspace, session: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The label weights' training set: stored stream frames with a class, and the starting pool
    images of chains that took a label (`label_start`), as the RBM's input vectors with labels
    (frames first), and how many are start images; of one store session, or of all."""
    pool = workspace.pool
    shape = pool.image_shape
    frames, labels = workspace.store.labelled_samples(shape, session)
    x = to_model_input(frames).reshape(len(frames), int(np.prod(shape)))
    events = workspace.store.events(("propagated",), session=session, samples=False, current_only=True)
    starts = [(ev.item_id, ev.label) for ev in events  # an image that started two chains counts once
              if ev.mode == StreamSession.mode and ev.label is not None and ev.item_id is not None
              and pool.has(ev.item_id)]
    if starts:
        index = pool.indices_of([item for item, _ in starts])
        x = np.concatenate([x, pool.as_float(index).reshape(len(index), -1)])
        labels = np.concatenate([labels, np.array([label for _, label in starts], np.int64)])
    return x, labels, len(starts)


def train_label_weights(workspace: Workspace, request: Any, progress: Progress = no_progress) -> str:
    """Offline learning of the label weights from every stored stream frame (CD-1, W fixed)."""
    if not workspace.has_model(MODEL):
        raise TuilabelError("no RBM yet: run `tuilabel train WORKSPACE --model rbm` first", workspace.path)
    rbm = workspace.load_model(MODEL, lambda path: RBM.load(path, device=request.device))
    x, labels, starts = stream_training_set(workspace)
    if not len(labels):
        raise TuilabelError("no labelled stream frames yet: label some in the stream mode first", workspace.path)
    settings = StreamSettings.from_options([o for o in request.options if not o.startswith("seed=")])
    epochs = request.epochs or settings.offline_epochs
    what = f"{len(labels) - starts} stream frames and {starts} chains' start images"
    progress(None, f"label weights from {what}")
    rbm.fit_labels(x, labels, epochs=epochs, lr=settings.offline_learning_rate, seed=request.seed)
    path = workspace.model_path(MODEL)
    rbm.save(path)
    return f"label weights retrained offline (CD-1, {epochs} passes) on {what}; saved {path}"


def evaluate(workspace: Workspace) -> list[str]:
    if not workspace.has_model(MODEL):
        return []
    rbm = workspace.load_model(MODEL, RBM.load)
    if float(rbm.U_.abs().sum()) == 0:
        return ["rbm: no label weights yet (label frames in the stream mode, or `train --model rbm-labels`)"]
    test = workspace.test
    assert test is not None and test.truth is not None
    return [f"rbm: test accuracy {rbm.score(test.as_float().reshape(len(test), -1), test.truth):.4f}"]
