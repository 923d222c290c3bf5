"""The review screen: a gallery of doubtful labels, grouped by their stored class."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Footer, Header

from ..sessions.review import ReviewSession
from ..sessions.settings import Settings
from ..workspace import Workspace
from .base import ModeScreen, digit_bindings
from .batch import TILE_GAP, Tile
from .widgets import TextPanel


class ReviewScreen(ModeScreen):
    DEFAULT_CSS = """
    ReviewScreen #status { height: 2; padding: 0 1; }
    ReviewScreen #tiles { height: 1fr; grid-gutter: 0 2; padding: 0 1; }
    ReviewScreen #message { height: 1; padding: 0 1; background: $boost; }
    ReviewScreen.-too-small #status, ReviewScreen.-too-small #tiles, ReviewScreen.-too-small #message {
        display: none;
    }
    ReviewScreen.-too-small TooSmall { display: block; }
    """
    BINDINGS = [
        *digit_bindings("label", "Correct", enter="Keep"),
        Binding("x", "session('unusable')", "Unusable"),
        Binding("backspace,z", "session('undo')", "Undo", key_display="⌫/z"),
        Binding("right,tab", "session('next')", "Next", show=False),
        Binding("left,shift+tab", "session('previous')", "Previous", show=False),
        Binding("n", "session('skip_page')", "Page"),
        Binding("g", "session('class_filter')", "Class"),
        Binding("escape", "back", "Back"),
    ]

    session_class = ReviewSession
    ENTER_ACTION = "keep"
    session: ReviewSession | None

    def __init__(self, workspace: Workspace, colors: str = "truecolor", settings: Settings | None = None,
                 annotator: str | None = None) -> None:
        super().__init__(workspace, colors, settings, annotator)
        h, w = workspace.pool.image_shape[:2]
        self.full = (w, h)
        self.tile_w, self.tile_h = w, h
        self._thumbs: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self._laid_out: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.half = False  # thumbnails at half size, when full-size tiles would leave a gallery of 1-3
        self.tiles: list[Tile] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextPanel(id="status")
        yield Grid(id="tiles")
        yield TextPanel(id="message")
        yield from self.compose_too_small()
        yield Footer()

    def _grid(self, w: int, h: int) -> tuple[int, int]:
        width, height = self.app.size
        cols = max(1, (width - 2 + TILE_GAP) // (max(w, 12) + TILE_GAP))
        rows = max(1, (height - 5) // ((h + 1) // 2 + 1))
        return cols, rows

    def _fits(self) -> tuple[int, int]:
        w, h = self.full
        cols, rows = self._grid(w, h)
        self.half = cols * rows < 4 and min(w, h) >= 16  # 80x24 fits 2 digits, or 10 thumbnails
        if self.half:
            w, h = w // 2, h // 2
            cols, rows = self._grid(w, h)
        self.tile_w, self.tile_h = w, h
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
        if (cols, rows, self.tile_w, self.tile_h) != self._laid_out:
            self.session.resize_page(cols * rows)
            self._layout(cols, rows)
            self.show()

    def _layout(self, cols: int, rows: int) -> None:
        self._laid_out = (cols, rows, self.tile_w, self.tile_h)
        grid = self.query_one("#tiles", Grid)
        grid.styles.grid_size_columns = cols
        grid.remove_children()
        self.tiles = [Tile(self.image_colors, max(self.tile_w, 12), self.tile_h) for _ in range(cols * rows)]
        grid.mount(*self.tiles)

    def picture(self, image: np.ndarray) -> np.ndarray:
        """The tile's picture: the image, or a half-size thumbnail (box filter) on a small terminal."""
        if not self.half:
            return image
        key = (id(image), image.shape)
        cached = self._thumbs.get(key)
        if cached is None or cached[0] is not image:
            small = PILImage.fromarray(image).resize((self.tile_w, self.tile_h), PILImage.Resampling.BOX)
            cached = (image, np.asarray(small))
            if len(self._thumbs) > 256:
                self._thumbs.clear()
            self._thumbs[key] = cached
        return cached[1]

    def show(self) -> None:
        if self.session is None:
            return
        v = self.session.view()
        names = self.workspace.pool.class_names
        blind = v.stage == "second"
        for n, tile in enumerate(self.tiles):
            item = v.page[n] if n < len(v.page) else None
            tile.view.set_image(None if item is None else self.picture(item.image))
            caption = Text()
            if item is not None:
                if item.answered:
                    if item.answer is None:
                        caption.append("✗ unusable", style="red")
                    elif item.answer == item.stored and not blind:
                        caption.append(f"✓ kept {names[item.answer]}", style="green")
                    else:
                        caption.append(f"✓ {names[item.answer]}", style="green")
                elif blind:
                    caption.append("?", style="bold")
                else:
                    caption.append(names[item.stored], style="bold")  # the stored label, then the guess
                    if item.guess is not None and item.guess != item.stored:
                        caption.append(f"→{names[item.guess]} {item.confidence:.0%}", style="yellow")
                    elif item.stored_p is not None:
                        caption.append(f" {item.stored_p:.0%}", style="dim")
                    if item.others:
                        caption.append(" " + ",".join("-" if lab is None else names[lab] for _, lab in item.others),
                                       style="magenta")
                if n == v.focus:
                    caption.stylize("bold reverse")
                    caption = Text("▶ ") + caption
            tile.caption.set_text(caption)
        status = Text()
        status.append("review" if not blind else "second opinion", style="bold")
        which = "" if v.class_filter is None else f" · class {names[v.class_filter][:12]}"
        status.append(f"  reviewed {v.reviewed} (corrected {v.corrected}, unusable {v.unusable})  "
                      f"queue {v.queue}/{v.labelled}{which}")
        groups: dict[int, int] = {}
        for item in v.page:
            groups[item.stored] = groups.get(item.stored, 0) + 1
        if blind:
            status.append("\nlabel each image blind: your answer is a second opinion")
        elif groups:
            status.append("\nthis page: " + ", ".join(f"stored {names[k]} ×{c}" for k, c in groups.items()))
        else:
            status.append("\n")
        if v.accuracy is not None:
            status.append(f"  model {v.accuracy:.1%}", style="dim")
        if v.updating:
            status.append(f"  {self.progress_text or 're-ranking…'}", style="yellow")
        self.query_one("#status", TextPanel).set_text(status)
        if v.message:
            message = v.message
        elif v.labelled < 2 * self.session.settings.folds:
            message = (f"{v.labelled} labels: review needs {2 * self.session.settings.folds}; "
                       "label in another mode first")
        elif not v.ranked:
            message = "judging every label with models that never saw it…"
        elif not v.page:
            message = "nothing doubtful left: every label the model disputes has been reviewed"
        elif blind:
            message = "number keys give your label, x unusable, z undo, ? all keys"
        else:
            message = "captions: stored→model's guess. ⏎ keeps, a number corrects, x unusable, g one class"
        self.query_one("#message", TextPanel).set_text(message)
