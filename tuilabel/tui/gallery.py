"""A grid of image tiles with captions, sized to the terminal: the batch and review screens."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Grid, Vertical

from ..sessions.settings import Settings
from ..workspace import Workspace
from .base import ModeScreen
from .widgets import PixelView, TextPanel

TILE_GAP = 2


class Tile(Vertical):
    DEFAULT_CSS = """
    Tile { width: auto; height: auto; }
    Tile TextPanel { height: 1; width: 100%; text-wrap: nowrap; text-overflow: ellipsis; }
    """  # one line, cut with an ellipsis: a wrapped caption would show only "▶ " of the focused tile

    def __init__(self, colors: str, width: int, height: int) -> None:
        super().__init__()
        self.view = PixelView(colors, max_scale=1)
        self.view.fix_cells(width, (height + 1) // 2)
        self.caption = TextPanel()
        self.caption.styles.width = width

    def compose(self) -> ComposeResult:
        yield self.view
        yield self.caption


class GalleryScreen(ModeScreen):
    """A `ModeScreen` whose images are tiles in the ``#tiles`` grid, as many as the terminal fits; the
    session's page is resized to match (`sessions.paging.Paging.resize_page`). A subclass composes
    the grid with its panels and draws each tile's picture through `picture`."""

    CHROME_ROWS: ClassVar[int] = 5  # rows of header, panels and footer around the grid
    MIN_TILE_WIDTH: ClassVar[int] = 12  # room for the caption under a narrow picture
    SCALES: ClassVar[tuple[float, ...]] = (1.0, 1 / 2, 1 / 3, 1 / 4)  # the tile sizes tried, largest first
    MIN_SIDE: ClassVar[int] = 12  # pixels: a smaller scale is tried only while the tile keeps this much
    ENOUGH_TILES: ClassVar[int] = 4  # the largest scale whose page holds this many wins

    session: Any

    def __init__(self, workspace: Workspace, colors: str = "truecolor", settings: Settings | None = None,
                 annotator: str | None = None) -> None:
        super().__init__(workspace, colors, settings, annotator)
        h, w = workspace.pool.image_shape[:2]
        self.full = (w, h)
        self.tile_w, self.tile_h = w, h
        self.scale = 1.0  # of the pool's images, chosen by `_fits` for the terminal's size
        self._thumbs: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self._laid_out: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.tiles: list[Tile] = []

    @property
    def half(self) -> bool:
        """Whether the tiles are thumbnails smaller than the pool's images."""
        return self.scale < 1

    def _grid(self, w: int, h: int) -> tuple[int, int, bool]:
        """Columns and rows of ``w`` x ``h`` tiles (a caption row under each) the terminal holds,
        at least one each, and whether one whole tile, caption included, fits."""
        width, height = self.app.size
        tile_w, tile_h = max(w, self.MIN_TILE_WIDTH), (h + 1) // 2 + 1
        cols = max(1, (width - 2 + TILE_GAP) // (tile_w + TILE_GAP))
        rows = max(1, (height - self.CHROME_ROWS) // tile_h)
        return cols, rows, tile_w <= width - 2 and tile_h <= height - self.CHROME_ROWS

    def _fits(self) -> tuple[int, int]:
        """The largest scale at which a page holds `ENOUGH_TILES` whole tiles (80x24: ten digits at
        half size, eight 64-pixel colour images at a quarter); else the largest at which one whole
        tile fits; else the smallest tried."""
        w0, h0 = self.full
        tried: list[tuple[float, int, int, int, int, bool]] = []
        for scale in self.SCALES:
            w, h = max(1, round(w0 * scale)), max(1, round(h0 * scale))
            if tried and min(w, h) < self.MIN_SIDE:
                break
            cols, rows, fit = self._grid(w, h)
            tried.append((scale, w, h, cols, rows, fit))
            if fit and cols * rows >= self.ENOUGH_TILES:
                break
        last, whole = tried[-1], [t for t in tried if t[5]]
        enough = last[5] and last[3] * last[4] >= self.ENOUGH_TILES
        best = last if enough or not whole else whole[0]
        self.scale, self.tile_w, self.tile_h, cols, rows, _ = best
        return cols, rows

    def session_ready(self) -> None:
        cols, rows = self._fits()
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
        width = max(self.tile_w, self.MIN_TILE_WIDTH)
        self.tiles = [Tile(self.image_colors, width, self.tile_h) for _ in range(cols * rows)]
        grid.mount(*self.tiles)

    def picture(self, image: np.ndarray) -> np.ndarray:
        """The tile's picture: the image, or a half-size thumbnail (box filter) on a small terminal
        (under a graphics protocol the terminal scales the full image into the tile's cells)."""
        if self.scale == 1 or self.graphics_protocol != "blocks":
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
