"""The browse screen: keys to `BrowseSession` actions, its view to widgets."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header

from ..sessions.base import Action
from ..sessions.browse import BrowseSession, TrainJob
from ..workspace import Workspace
from .app import LabelScreen
from .widgets import ImageBox, PixelView, TextPanel, class_bars


def digit_bindings(action: str, description: str) -> list[Binding]:
    """0-9 as ten bindings of the session action ``action`` with one footer entry."""
    return [
        Binding(str(d), f"session('{action}', {d})", description, key_display="0-9", show=d == 0)
        for d in range(10)
    ]


class BrowseScreen(LabelScreen):
    DEFAULT_CSS = """
    BrowseScreen #main { height: 1fr; }
    BrowseScreen #side { width: 36; padding: 0 1; }
    BrowseScreen #info { height: 6; }
    BrowseScreen #balance { height: 12; }
    BrowseScreen #message { height: 1; padding: 0 1; background: $boost; }
    BrowseScreen.-too-small #main, BrowseScreen.-too-small #message { display: none; }
    BrowseScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = [
        *digit_bindings("label", "Label"),
        Binding("x", "session('unsure')", "Unsure"),
        Binding("space", "session('skip')", "Skip"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("y", "session('redo')", "Redo"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, workspace: Workspace, colors: str = "truecolor", seed: int | None = None) -> None:
        super().__init__()
        self.session = BrowseSession(workspace, seed=seed if seed is not None else _fresh_seed())
        self.image_colors = colors
        self.training = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with ImageBox():
                yield PixelView(self.image_colors, id="image")
            with Vertical(id="side"):
                yield TextPanel(id="info")
                yield TextPanel(id="balance")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer()

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        v = self.session.view()
        names = self.session.pool.class_names
        self.query_one(PixelView).set_image(v.image)
        info = Text()
        info.append("browse", style="bold")
        info.append(f"  {v.position + 1 if not v.done else v.position}/{v.total}\n")
        info.append(f"item {v.item_id or '-'}\n")
        if v.guess is not None:
            info.append(f"model guess: {names[v.guess]} ({v.guess_p:.0%})\n")
        else:
            info.append("model guess: (no model yet)\n", style="dim")
        acc = "-" if v.accuracy is None else f"{v.accuracy:.1%}"
        info.append(f"test accuracy: {acc}{'  training…' if self.training else ''}\n")
        info.append(f"labelled here: {v.labels_spent}   unsure: {v.unsure}\n")
        self.query_one("#info", TextPanel).set_text(info)
        self.query_one("#balance", TextPanel).set_text(class_bars(names, v.counts, width=14, highlight=v.guess))
        message = v.message or "number keys label the image; x unsure; ? help"
        if v.done:
            message = "Every image of the pool has been seen. Esc goes back."
        self.query_one("#message", TextPanel).set_text(message)

    def act(self, action: Action) -> None:
        self.session.handle(action)  # committed to the store before we draw anything
        if self.session.due_update() and not self.training:
            self.training = True
            job = self.session.snapshot()
            self.train_in_background(job)
        self.show()

    @work(thread=True, exclusive=True, group="train")
    def train_in_background(self, job: TrainJob) -> None:
        result = self.session.train(job, *self.session.test_arrays())
        self.app.call_from_thread(self._trained, job, result)

    def _trained(self, job: TrainJob, result: tuple) -> None:
        self.session.apply(job, result)
        self.training = False
        self.show()






def _fresh_seed() -> int:
    import secrets

    return secrets.randbelow(2**31)
