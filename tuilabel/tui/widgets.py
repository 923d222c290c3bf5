"""Small widgets: an image drawn with half blocks (Line API), class bars, a too-small notice."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from ..render import fit_scale, image_strips

MIN_WIDTH, MIN_HEIGHT = 60, 18
BAR = "\u2588"


class PixelView(Widget):
    """Draws one image as large as fits (integer scale), centred; redraws only on a new image."""

    DEFAULT_CSS = """
    PixelView { width: 1fr; height: 1fr; }
    """

    def __init__(self, colors: str = "truecolor", max_scale: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_colors = colors
        self.max_scale = max_scale
        self._pixels: np.ndarray | None = None
        self._pixel_strips: list[Strip] = []
        self._built_for: tuple[int, int] = (0, 0)

    def set_image(self, image: np.ndarray | None) -> None:
        if image is self._pixels or (
            image is not None and self._pixels is not None and np.array_equal(image, self._pixels)
        ):
            return  # nothing new: write nothing to the terminal
        self._pixels = image
        self._pixel_strips = []
        self.refresh()

    def _build(self) -> None:
        width, height = self.size
        self._built_for = (width, height)
        if self._pixels is None or width == 0 or height == 0:
            self._pixel_strips = []
            return
        scale = min(self.max_scale, fit_scale(self._pixels.shape, width, height))
        self._pixel_strips = image_strips(self._pixels, scale, self.image_colors)

    def on_resize(self) -> None:
        self._pixel_strips = []
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if not self._pixel_strips or self._built_for != (width, height):
            self._build()
        top = max(0, (height - len(self._pixel_strips)) // 2)
        row = y - top
        if not 0 <= row < len(self._pixel_strips):
            return Strip.blank(width, self.rich_style)
        strip = self._pixel_strips[row]
        left = max(0, (width - strip.cell_length) // 2)
        return Strip.join([Strip.blank(left, self.rich_style), strip]).crop_extend(0, width, self.rich_style)


def class_bars(
    names: Sequence[str],
    counts: Sequence[int],
    width: int = 16,
    highlight: int | None = None,
    keys: bool = True,
) -> Text:
    """Class balance as a terminal bar chart: one row per class, key, name, bar, count."""
    text = Text()
    top = max(max(counts, default=0), 1)
    for c, (name, n) in enumerate(zip(names, counts)):
        style = "bold reverse" if c == highlight else ""
        key = f"{c}" if keys and c < 10 else " "
        text.append(f"{key} ", style="bold cyan")
        text.append(f"{name[:8]:<8} ", style=style)
        filled = round(width * n / top)
        text.append(BAR * filled, style="green")
        text.append(" " * (width - filled))
        text.append(f" {n}\n")
    return text


def prob_bars(names: Sequence[str], probs: Sequence[float], active: int | None = None) -> Text:
    """The model's class probabilities as a compact row of vertical bars with class keys under."""
    ticks = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
    text = Text()
    for c, p in enumerate(probs):
        text.append(ticks[min(8, int(round(float(p) * 8)))] * 2 + " ", style="bold green" if c == active else "green")
    text.append("\n")
    for c, _ in enumerate(probs):
        text.append(f"{names[c][:2]:<2} ", style="bold reverse" if c == active else "cyan")
    return text


class TooSmall(Static):
    """Shown instead of the screen's content when the terminal is below the minimum size."""

    DEFAULT_CSS = """
    TooSmall { display: none; width: 100%; height: 100%; content-align: center middle; }
    """

    def show_for(self, width: int, height: int) -> None:
        self.update(
            f"Terminal too small: {width}x{height}.\n"
            f"tuilabel needs at least {MIN_WIDTH}x{MIN_HEIGHT}: enlarge the window."
        )
