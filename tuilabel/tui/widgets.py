"""Small widgets: an image drawn with half blocks (Line API), class bars, a too-small notice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.text import Text
from textual.containers import Container
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from ..render import fit_scale, image_strips, quantize

MIN_WIDTH, MIN_HEIGHT = 60, 18
BAR = "\u2588"


class PixelView(Widget):
    """One image as large as fits its `ImageBox` (integer scale); the widget is exactly the
    picture's size, so a new frame repaints the picture's cells and nothing else."""

    DEFAULT_CSS = """
    PixelView { width: 28; height: 14; }
    """

    def __init__(self, colors: str = "truecolor", max_scale: int = 8, levels: int = 256, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_colors = colors
        self.max_scale = max_scale
        self.levels = levels  # grey levels shown; fewer cost fewer bytes a frame
        self._pixels: np.ndarray | None = None
        self._pixel_strips: list[Strip] = []
        self._box: tuple[int, int] = (28, 14)
        self._scale = 1

    def set_image(self, image: np.ndarray | None) -> None:
        if image is self._pixels or (
            image is not None and self._pixels is not None and np.array_equal(image, self._pixels)
        ):
            return  # nothing new: write nothing to the terminal
        reshape = image is None or self._pixels is None or image.shape != self._pixels.shape
        self._pixels = image
        self._pixel_strips = []
        if reshape:
            self._fit()
        self.refresh()

    def fit_box(self, width: int, height: int) -> None:
        """Called by the box on resize: choose the scale and size the widget to the picture."""
        self._box = (width, height)
        self._fit()
        self._pixel_strips = []
        self.refresh()

    def _fit(self) -> None:
        if self._pixels is None:
            return
        width, height = self._box
        self._scale = min(self.max_scale, fit_scale(self._pixels.shape, width, height))
        h, w = self._pixels.shape[:2]
        size = (w * self._scale, (h * self._scale + 1) // 2)
        if (self.styles.width, self.styles.height) != size:
            self.styles.width, self.styles.height = size

    def render_line(self, y: int) -> Strip:
        if self._pixels is not None and not self._pixel_strips:
            shown = quantize(self._pixels, self.levels)
            self._pixel_strips = image_strips(shown, self._scale, self.image_colors)
        width = self.size.width
        if not 0 <= y < len(self._pixel_strips):
            return Strip.blank(width, self.rich_style)
        strip = self._pixel_strips[y]
        return strip if strip.cell_length == width else strip.crop_extend(0, width, self.rich_style)


class ImageBox(Container):
    """Centres a `PixelView` and tells it how much room there is."""

    DEFAULT_CSS = """
    ImageBox { width: 1fr; height: 1fr; align: center middle; }
    """

    def on_resize(self) -> None:
        for view in self.query(PixelView):
            view.fit_box(self.content_size.width, self.content_size.height)


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


def prob_bars(names: Sequence[str], probs: Sequence[float] | np.ndarray, active: int | None = None) -> Text:
    """The model's class probabilities as a compact row of vertical bars with class keys under."""
    ticks = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
    text = Text()
    for c, p in enumerate(probs):
        text.append(ticks[min(8, round(float(p) * 8))] * 2 + " ", style="bold green" if c == active else "green")
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


class TextPanel(Widget):
    """Text that repaints only itself, and only when it changed (no layout pass per frame).

    `Static.update` asks for a layout refresh, which makes Textual repaint the whole screen; at 30
    frames a second that is most of the bytes and the CPU. Give a TextPanel a fixed height in CSS.
    """

    DEFAULT_CSS = """
    TextPanel { height: 1; }
    """

    def __init__(self, text: Text | str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = Text(text) if isinstance(text, str) else text

    def set_text(self, text: Text | str) -> None:
        text = Text(text) if isinstance(text, str) else text
        if text == self._text:
            return
        self._text = text
        self.refresh()

    @property
    def text(self) -> Text:
        return self._text

    def render(self) -> Text:
        return self._text
