"""The browse screen: keys to `BrowseSession` actions, its view to widgets."""

from __future__ import annotations

import secrets

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header

from ..data import shown_id
from ..sessions.browse import BrowseSession, BrowseSettings
from ..sessions.settings import Settings
from ..workspace import Workspace
from .base import ModeScreen, digit_bindings
from .keys import with_ids
from .widgets import ImageBox, PixelView, TextPanel, class_bars


class BrowseScreen(ModeScreen):
    HELP = (
        "The pool in random order, one image at a time: the baseline the other modes are measured against. A "
        "number key labels the image and shows the next."
    )
    DEFAULT_CSS = """
    BrowseScreen #main { height: 1fr; }
    BrowseScreen #side { width: 36; padding: 0 1; }
    BrowseScreen #info { height: 6; }
    BrowseScreen #balance { height: 12; }
    BrowseScreen #message { height: 1; padding: 0 1; background: $boost; }
    BrowseScreen.-too-small #main, BrowseScreen.-too-small #message { display: none; }
    BrowseScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = with_ids([
        *digit_bindings("label", "Label"),
        Binding("x", "session('unsure')", "Unsure"),
        Binding("space", "session('skip')", "Skip"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("y", "session('redo')", "Redo"),
        Binding("escape", "back", "Back"),
    ])
    session_class = BrowseSession
    session: BrowseSession | None

    def __init__(self, workspace: Workspace, colors: str = "truecolor", settings: Settings | None = None,
                 annotator: str | None = None) -> None:
        if not isinstance(settings, BrowseSettings) or not settings.seed:
            base = settings if isinstance(settings, BrowseSettings) else BrowseSettings()
            settings = base.replace(seed=secrets.randbelow(2**31))  # a fresh order each time unless asked
        super().__init__(workspace, colors, settings, annotator)

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
        yield Footer(compact=True)

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.session.pool.class_names
        view = self.query_one(PixelView)
        view.set_image(v.image)
        if v.item_id is not None:
            self.show_original(view, self.workspace.pool.index_of(v.item_id))
        info = Text()
        info.append("browse", style="bold")
        info.append(f"  {v.position + 1 if not v.done else v.position}/{v.total}\n")
        info.append(f"item {shown_id(v.item_id) if v.item_id else '-'}\n")
        if v.guess is not None:
            info.append(f"model guess: {names[v.guess]} ({v.guess_p:.0%})\n")
        else:
            info.append("model guess: (no model yet)\n", style="dim")
        acc = "-" if v.accuracy is None else f"{v.accuracy:.1%}"
        name = "cv accuracy" if self.session.estimate(v.accuracy) == "cv" else "test accuracy"
        info.append(f"{name}: {acc}{'  training…' if self.session.updating else ''}\n")
        info.append(f"labelled here: {v.labels_spent}   unsure: {v.unsure}\n")
        self.query_one("#info", TextPanel).set_text(info)
        self.query_one("#balance", TextPanel).set_text(class_bars(names, v.counts, width=14, highlight=v.guess))
        message = v.message or "number keys label the image; x unsure; ? help"
        if v.done:
            message = "Every image of the pool has been seen. Esc goes back."
        self.query_one("#message", TextPanel).set_text(message)

    def show_progress(self) -> None:
        pass  # softmax regression takes a moment: "training…" beside the accuracy says enough
