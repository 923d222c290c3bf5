"""What every screen shares: the size guard, digit keys, and `ModeScreen`, the one place where a
mode's session is opened and its update cycle runs on a Textual worker.

Screens import this module, never the app; the app finds screens through the mode registry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from ..curves import stopping_signal
from ..errors import TuilabelError
from ..ingest import read_original
from ..sessions.base import Action, BaseSession, Progress, no_progress
from ..sessions.settings import Settings
from ..workspace import Workspace
from .widgets import MIN_HEIGHT, MIN_WIDTH, PixelView, TooSmall

STORE_RETRY_EVERY = 3.0  # seconds between tries to write labels waiting for an unreachable store
CELL_PX = (10, 20)  # pixels a terminal cell is taken to be, for an original's resolution under kitty or iTerm2


TYPED_ENTER = "Enter a typed class number"  # Enter's description where no other action is given


def digit_bindings(action: str, description: str, enter: str | None = None) -> list[Binding]:
    """0-9 as ten bindings of the session action ``action`` with one footer entry, and Enter."""
    return [
        *(Binding(str(d), f"session('{action}', {d})", description, key_display="0-9", show=d == 0, id=f"class-{d}")
          for d in range(10)),
        # Enter ends a typed class number (more than ten classes), else does the screen's ENTER_ACTION
        Binding("enter", "enter", enter or TYPED_ENTER, key_display="⏎", show=enter is not None, id="enter"),
    ]


class Updates:
    """The updates running on worker threads, app-wide, so that quitting can wait for them (what an
    update finished is saved by the update itself) and say what it is waiting for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, str] = {}
        self._next = 0
        self._idle = threading.Event()
        self._idle.set()

    def start(self, text: str) -> int:
        with self._lock:
            self._next += 1
            self._running[self._next] = text
            self._idle.clear()
            return self._next

    def progress(self, token: int, text: str) -> None:
        with self._lock:
            if token in self._running:
                self._running[token] = text

    def done(self, token: int) -> None:
        with self._lock:
            self._running.pop(token, None)
            if not self._running:
                self._idle.set()

    def describe(self) -> str:
        with self._lock:
            return "; ".join(self._running.values())

    def wait(self, timeout: float) -> bool:
        """True once nothing runs."""
        return self._idle.wait(timeout)


class LabelScreen(Screen):
    HELP: ClassVar[str] = ""  # what the screen is for and how to work it: the top of its `?` help
    """Base for every screen: hides its content and says so when the terminal is too small."""

    def compose_too_small(self) -> ComposeResult:
        yield TooSmall(id="too-small")

    @property
    def too_small(self) -> bool:
        return self.has_class("-too-small")

    def on_resize(self) -> None:
        width, height = self.app.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.set_class(small, "-too-small")
        if small:
            self.query_one(TooSmall).show_for(width, height)


class ModeScreen(LabelScreen):
    """A mode's screen: opens its session (on a worker when models must be trained first), sends
    keys to it as actions, runs its update cycle on one worker, and draws its view (`show`).

    A subclass sets ``session_class``, composes its widgets and implements `show`; it may add
    `session_ready` (the session just opened) and `show_progress` (an update or the opening
    reports). Esc or quit during an update loses nothing: the update saves its result itself
    (`BaseSession.persist`) when it finishes, and quitting waits for it (Ctrl+C drops it).
    """

    # first in the footer: at 60 columns the mode's own keys are what gets cut, never help and quit
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?", id="help"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]
    session_class: ClassVar[type[BaseSession]] = BaseSession
    _original_asked: object = None  # the picture whose original a worker was last asked to read
    ENTER_ACTION: ClassVar[str | None] = None  # what Enter does when no class number is being typed
    PROGRESS_EVERY = 0.1  # seconds between progress repaints from a worker
    _store_away = False  # the header says the store is unreachable (show_store_state)

    def __init__(self, workspace: Workspace, colors: str = "truecolor", settings: Settings | None = None,
                 annotator: str | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.annotator = annotator  # who the store records (None: user@host)
        self.image_colors = colors
        self.settings = settings
        self.session: Any = None
        self.progress_text = ""
        self.progress_fraction: float | None = None
        self._progress_at = 0.0
        self._progress_latest: tuple[float | None, str] | None = None  # held back by the throttle
        self.typed = ""  # digits of a class number being typed (more than 10 classes)
        workspace.test  # load the test set here, not on a worker  # noqa: B018
        self._ready: BaseSession | None = None
        cls = self.session_class
        if not cls.needs_preparing(workspace, settings):  # quick: open now, so that a model file for
            # another pool is a message from `App.open_mode`, before the screen exists
            self._ready = cls(workspace, settings, annotator=annotator, **cls.prepare(workspace, settings))

    @property
    def graphics_protocol(self) -> str:
        """kitty, iterm2 or blocks: how this app's `PixelView`s draw (``--graphics``)."""
        out = getattr(self.app, "graphics", None)
        return out.protocol if out is not None else "blocks"

    def on_screen_resume(self) -> None:
        for view in self.query(PixelView):  # a dialog over this screen may have drawn over pictures
            view.repaint_pixels()

    # -- opening ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(STORE_RETRY_EVERY, self.retry_store)
        if self._ready is not None:
            self._opened(self._ready)
            return
        self.set_class(True, "-updating")
        self.progress_text = f"opening the {self.session_class.mode} mode…"
        self.show_progress()
        self._open_in_background()

    def _cannot_open(self, exc: Exception) -> None:
        self.app.notify(str(exc), title=f"cannot open the {self.session_class.mode} mode", severity="error",
                        timeout=30)
        self.call_after_refresh(self._leave)  # not while mounting: the screen finishes composing first

    def _leave(self) -> None:
        if self.is_attached and self.app.screen is self:
            self.app.pop_screen()

    @work(exclusive=True, group="open")
    async def _open_in_background(self) -> None:
        cls = self.session_class
        try:
            parts = await self._in_thread(f"opening the {cls.mode} mode",
                                          lambda progress: cls.prepare(self.workspace, self.settings, progress))
            session = cls(self.workspace, self.settings, annotator=self.annotator, **parts)  # this thread: the store
        except TuilabelError as exc:
            self._cannot_open(exc)
            return
        except Exception as exc:  # shown on screen, not lost on a thread
            self._failed(exc)
            return
        self._opened(session)

    def show_original(self, view: PixelView, index: int) -> None:
        """Under kitty or iTerm2, pool item ``index``'s original file in ``view``'s cells, read on a
        worker thread (never on the key path); the display copy shows until it is there, and stays
        where there is no original or it cannot be read. Half blocks: nothing to do."""
        originals = self.workspace.pool.originals
        shown = view._pixels
        if view.protocol == "blocks" or originals is None or shown is None:
            return
        if (view._detail is not None and view._detail[0] is shown) or self._original_asked is shown:
            return  # read already, or being read: show() runs on every key and progress report
        self._original_asked = shown
        path = originals.path(index)

        def read() -> None:
            width, height = view.size if view.size.area else view._box  # laid out by now, or the room it has
            detail = read_original(path, shown.shape, (width * CELL_PX[0], height * CELL_PX[1]))
            if detail is not None:
                self.app.call_from_thread(view.set_detail, shown, detail)

        self.run_worker(read, thread=True, exclusive=True, group="original")

    def show_store_state(self) -> None:
        """While a PostgreSQL store is unreachable the header says so, with the labels kept here for
        it (`LabelStore.use_journal`); once they are written, the stopping signal again."""
        store = None if self.session is None else self.session.store
        waiting = 0 if store is None else store.waiting()
        lost = None if store is None else store.unreachable_since
        if waiting or lost is not None:
            since = "" if lost is None else f" since {time.strftime('%H:%M:%S', time.localtime(lost))}"
            self.sub_title = f"store unreachable{since} · {waiting} saved here"  # 80 columns hold it
            self._store_away = True
        elif self._store_away:
            self._store_away = False
            self.show_stopping_signal()
            self.app.notify("the label store is back: every label kept here is in it", timeout=5)

    def retry_store(self) -> None:
        """Every few seconds: labels waiting for the store are written if it is back, and classes
        added from another terminal (`tuilabel classes`) come in."""
        if self.session is not None and not self.session.updating and self.session.follow_classes():
            self.show()
        store = None if self.session is None else self.session.store
        if store is not None and store.waiting():
            with contextlib.suppress(TuilabelError):
                store.flush_journal()
        if store is not None and (store.waiting() or self._store_away):
            self.show_store_state()

    def show_stopping_signal(self) -> None:
        """The header's subtitle: the latest test accuracy and, from the curve so far, the labels one
        more point would take (``tuilabel.curves``), then the workspace's name: the stopping signal
        first, where 80 columns keep it. After opening and each update."""
        signal = None
        if self.session is not None:
            curve = self.session.curve
            estimate = curve[-1].extra.get("estimate", "test") if curve else "test"
            signal = stopping_signal([(p.labels, p.accuracy) for p in curve], estimate=estimate)
        self.sub_title = ("" if signal is None else f"{signal.text()} · ") + self.workspace.path.name

    def _opened(self, session: BaseSession) -> None:
        if not self.can_draw:  # left while it opened
            session.close()
            return
        self.session = session
        self.show_stopping_signal()
        self.set_class(False, "-updating")
        self._clear_progress()
        self.session_ready()
        self.show()
        self.maybe_update()

    def session_ready(self) -> None:
        """The session has just opened."""

    # -- keys to actions --------------------------------------------------------------------------

    def action_session(self, name: str, value: object = None) -> None:
        """Every session key binds here: ``session('label', 3)``, ``session('undo')``. With more
        than ten classes, digits are typed into a class number first (`type_digit`)."""
        if name == "label" and isinstance(value, int) and self.session is not None \
                and self.session.pool.n_classes > 10:
            self.type_digit(value)
            return
        self.typed = ""
        self.act(Action(name, value))

    def type_digit(self, digit: int) -> None:
        """Add a digit to the class number: it labels as soon as no further digit could make another
        class (or on Enter); Esc clears it."""
        names = self.session.pool.class_names
        self.typed += str(digit)
        number = int(self.typed)
        if number >= len(names):
            self.typed = ""
            self.session.message = f"no class {number}: classes are 0..{len(names) - 1} (? lists them)"
            self.show()
        elif number * 10 >= len(names):  # no longer number starts with these digits
            self.typed = ""
            self.act(Action("label", number))
        else:
            more = f"{number * 10}..{min(number * 10 + 9, len(names) - 1)}"
            self.session.message = f"class {number} ({names[number]}): ⏎ labels it, or type on for {more}; Esc clears"
            self.show()

    def action_enter(self) -> None:
        if self.typed:
            number, self.typed = int(self.typed), ""
            self.act(Action("label", number))
        elif self.ENTER_ACTION:
            self.act(Action(self.ENTER_ACTION))

    def action_back(self) -> None:
        if self.typed:
            self.typed = ""
            if self.session is not None:
                self.session.message = "class number cleared"
                self.show()
            return
        self.app.pop_screen()

    def act(self, action: Action) -> None:
        if self.session is None:
            self.notify(f"The {self.session_class.mode} mode is still opening: keys work once it is ready.",
                        timeout=3)
            return
        if self.too_small:
            return  # nothing is shown: a key must not label what the person cannot see
        try:
            self.session.handle(action)  # committed to the store before anything is drawn
        except TuilabelError as exc:  # the disk is full, the store went read-only: nothing was acknowledged
            lost = self.session.store.engine.lost_since  # a PostgreSQL server gone: it is tried again
            title = "not saved" if lost is None else \
                f"not saved: the store is unreachable since {time.strftime('%H:%M:%S', time.localtime(lost))}, retrying"
            self.app.notify(str(exc), title=title, severity="error", timeout=30)
            return
        self.show_store_state()
        self.maybe_update()
        self.show()

    # -- the update cycle -------------------------------------------------------------------------

    def maybe_update(self) -> None:
        session = self.session
        if session is None:
            return
        if not session.refreshing and session.due_refresh():
            self._refresh(session, session.refresh_snapshot())
        if session.updating or not session.due_update():
            return
        session.follow_classes()
        job = session.snapshot()
        self.set_class(True, "-updating")
        self._update(session, job)

    @staticmethod
    def _heavy(session: BaseSession, job: Any) -> Callable[[Progress], Any]:
        """Steps 3-4 of the update cycle, for a daemon thread: train, then persist (kept from here
        on, whatever happens to the screen)."""
        def heavy(progress: Progress) -> Any:
            return session.work(job, progress)

        return heavy

    @work(group="refresh")
    async def _refresh(self, session: BaseSession, job: Any) -> None:
        """A light update beside the main one (the batch mode's head): applied when it lands."""
        try:
            heavy = self._heavy(session, job)  # its progress stays off the screen: a second at most
            result = await self._in_thread(f"{session.mode} refresh", lambda progress: heavy(no_progress))
        except Exception as exc:
            session.refreshing = False
            self.app.notify(f"{type(exc).__name__}: {exc}", title="refresh failed", severity="error", timeout=20)
            return
        session.apply(job, result)
        if self.can_draw:
            self.show()
            self.maybe_update()

    @work(group="update")
    async def _update(self, session: BaseSession, job: Any) -> None:
        try:
            result = await self._in_thread(f"{session.mode} update", self._heavy(session, job))
        except Exception as exc:
            self._failed(exc)
            return
        self._updated(session, job, result)

    def _in_thread(self, what: str, fn: Callable[[Progress], Any]) -> asyncio.Future:
        """Run ``fn(progress)`` on a daemon thread (quitting never blocks on it: the CLI waits for
        `Updates` instead, and Ctrl+C there drops it) and await its result."""
        updates: Updates = self.app.updates  # type: ignore[attr-defined]
        token = updates.start(what)
        progress = self._reporter(token, updates, self._caller())
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                outcome, failure = fn(progress), None
            except Exception as exc:
                outcome, failure = None, exc
            finally:
                updates.done(token)
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # the worker was cancelled
                if failure is None:
                    future.set_result(outcome)
                else:
                    future.set_exception(failure)

        threading.Thread(target=run, name=f"tuilabel {what}", daemon=True).start()
        return asyncio.wrap_future(future)

    def _clear_progress(self) -> None:
        """The opening or an update is over: its progress goes, and a report the throttle still
        holds back (`_reporter`) must not come back after it."""
        self.progress_text, self.progress_fraction, self._progress_latest = "", None, None

    @property
    def can_draw(self) -> bool:
        """Whether this screen's widgets are there to draw on: not once it is being removed (Esc
        while an update or the opening runs), when its children go first."""
        return self.is_attached and not (self._pruning or self._closing or self._closed)

    def _updated(self, session: BaseSession, job: Any, result: Any) -> None:
        session.apply(job, result)
        self._clear_progress()
        if not self.can_draw:
            return  # left meanwhile: the result is applied and saved, there is nothing to draw on
        self.show_stopping_signal()
        self.set_class(False, "-updating")
        self.show()
        self.maybe_update()  # labels may have reached the next update meanwhile

    def _failed(self, exc: Exception) -> None:
        self.set_class(False, "-updating")
        self._clear_progress()
        if self.session is not None:
            self.session.updating = False
        self.app.notify(f"{type(exc).__name__}: {exc}", title="update failed", severity="error", timeout=20)
        if self.can_draw:
            self.show()

    def _caller(self) -> Callable[..., None]:
        """Run a callback on the UI thread from a worker; nothing once the app has gone."""
        app = self.app

        def call(fn: Callable[..., Any], *args: Any) -> None:
            if not app.is_running:
                return  # the app has quit: the update saves its result itself
            with contextlib.suppress(RuntimeError):  # it quit just now
                app.call_from_thread(fn, *args)

        return call

    def _reporter(self, token: int, updates: Updates, call: Callable[..., None]) -> Progress:
        def progress(fraction: float | None, text: str) -> None:
            updates.progress(token, text)
            held = self._progress_latest is not None
            self._progress_latest = (fraction, text)  # the newest always reaches the screen
            now = time.monotonic()
            if now - self._progress_at >= self.PROGRESS_EVERY:
                self._progress_at = now
                call(self._progress)
            elif not held:  # too soon: show it once the interval has passed, unless a newer one has
                call(self.set_timer, self.PROGRESS_EVERY, self._progress)

        return progress

    def _progress(self) -> None:
        latest, self._progress_latest = self._progress_latest, None
        if latest is None:
            return
        self.progress_fraction, self.progress_text = latest
        if self.can_draw:
            self.show_progress()

    def show_progress(self) -> None:
        """Draw ``progress_text`` / ``progress_fraction`` (default: redraw the whole view)."""
        self.show()

    # -- drawing and leaving ----------------------------------------------------------------------

    def show(self) -> None:
        raise NotImplementedError

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.close()
