"""The batch screen: a page of the images the model is most confused by, one key per image."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Footer, Header

from ..sessions.batch import BatchSession
from ..sessions.settings import Settings
from ..workspace import Workspace
from .base import ModeScreen, digit_bindings
from .widgets import PixelView, TextPanel

TILE_GAP = 2


class Tile(Vertical):
    DEFAULT_CSS = """
    Tile { width: auto; height: auto; }
    Tile TextPanel { height: 1; width: 100%; }
    """

    def __init__(self, colors: str, width: int, height: int) -> None:
        super().__init__()
        self.view = PixelView(colors, max_scale=1)
        self.view.styles.width, self.view.styles.height = width, (height + 1) // 2
        self.caption = TextPanel()
        self.caption.styles.width = width

    def compose(self) -> ComposeResult:
        yield self.view
        yield self.caption


class BatchScreen(ModeScreen):
    DEFAULT_CSS = """
    BatchScreen #status { height: 2; padding: 0 1; }
    BatchScreen #tiles { height: 1fr; grid-gutter: 0 2; padding: 0 1; }
    BatchScreen #balance { height: auto; max-height: 2; padding: 0 1; }
    BatchScreen #message { height: 1; padding: 0 1; background: $boost; }
    BatchScreen.-too-small #status, BatchScreen.-too-small #tiles, BatchScreen.-too-small #balance,
    BatchScreen.-too-small #message { display: none; }
    BatchScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = [
        *digit_bindings("label", "Label", enter="Accept"),
        Binding("x", "session('unsure')", "Unsure"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("right,tab", "session('next')", "Next", show=False),
        Binding("left,shift+tab", "session('previous')", "Previous", show=False),
        Binding("n", "session('skip_page')", "Page"),
        Binding("escape", "back", "Back"),
    ]

    session_class = BatchSession
    ENTER_ACTION = "accept"
    session: BatchSession | None

    def __init__(self, workspace: Workspace, colors: str = "truecolor", settings: Settings | None = None,
                 annotator: str | None = None) -> None:
        super().__init__(workspace, colors, settings, annotator)
        h, w = workspace.pool.image_shape[:2]
        self.tile_w, self.tile_h = w, h
        self.tiles: list[Tile] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextPanel(id="status")
        yield Grid(id="tiles")
        yield TextPanel(id="balance")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer()

    def _fits(self) -> tuple[int, int]:
        width, height = self.app.size
        cols = max(1, (width - 2 + TILE_GAP) // (self.tile_w + TILE_GAP))
        rows = max(1, (height - 6) // ((self.tile_h + 1) // 2 + 1))
        return cols, rows

    def session_ready(self) -> None:
        cols, rows = self._fits()
        assert self.session is not None
        self.session.resize_page(cols * rows)
        self._layout(cols, rows)

    def on_resize(self) -> None:
        super().on_resize()
        if self.session is None:
            return
        cols, rows = self._fits()
        if cols * rows != len(self.tiles):
            self.session.resize_page(cols * rows)
            self._layout(cols, rows)
            self.show()

    def _layout(self, cols: int, rows: int) -> None:
        grid = self.query_one("#tiles", Grid)
        grid.styles.grid_size_columns = cols
        grid.remove_children()
        self.tiles = [Tile(self.image_colors, self.tile_w, self.tile_h) for _ in range(cols * rows)]
        grid.mount(*self.tiles)

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.workspace.pool.class_names
        for n, tile in enumerate(self.tiles):
            item = v.page[n] if n < len(v.page) else None
            tile.view.set_image(None if item is None else item.image)
            caption = Text()
            if item is not None:
                focused = n == v.focus
                if item.answered:
                    caption.append(f"✓ {'unsure' if item.label is None else names[item.label]}", style="green")
                elif item.guess is not None:
                    caption.append(f"{names[item.guess]} {item.confidence:.0%}")
                    if item.uncertainty is not None:
                        caption.append(f" H{item.uncertainty:.2f}", style="dim")
                else:
                    caption.append("no guess", style="dim")
                if focused:
                    caption.stylize("bold reverse")
                    caption = Text("▶ ") + caption
            tile.caption.set_text(caption)
        status = Text()
        status.append("batch", style="bold")
        unsure = f" (+{v.unsure} unsure)" if v.unsure else ""
        status.append(f"  page {v.page_number}  labelled {v.labels}{unsure}  round {v.round}  "
                      f"next round at {v.next_round_at}")
        acc = "-" if v.accuracy is None else f"{v.accuracy:.1%}"
        status.append(f"\ntest accuracy {acc}")
        if v.history:
            status.append("  curve " + " ".join(f"{n}:{'-' if a is None else f'{a:.0%}'}" for n, a in v.history[-4:]),
                          style="dim")
        if v.pseudo_count:
            status.append(f"  pseudo-labels {v.pseudo_count}")
        if v.training:
            status.append(f"  {self.progress_text or 'training…'}", style="yellow")
        self.query_one("#status", TextPanel).set_text(status)
        balance = Text("key class:labels ", style="bold")
        for c, n in enumerate(v.counts):
            balance.append(f" {c}" if c < 10 else " ", style="bold cyan")
            balance.append(f"{'' if names[c] == str(c) else ' ' + names[c][:10]}:{n}")
        self.query_one("#balance", TextPanel).set_text(balance)
        self.query_one("#message", TextPanel).set_text(
            v.message or "number keys label the ▶ image, ⏎ accepts the guess, x unsure, ? all keys")
