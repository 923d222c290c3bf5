"""Small widgets: an image drawn with half blocks (Line API), class bars, a too-small notice."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image as PILImage
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.containers import Container
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from ..graphics import (
    MAX_CELLS,
    Choice,
    iterm2_image,
    kitty_delete,
    kitty_transmit,
    placeholder_row,
    png_bytes,
    sixel_fit,
    sixel_image,
)
from ..render import fit_scale, image_strips, quantize

MIN_WIDTH, MIN_HEIGHT = 60, 18
BAR = "\u2588"


class GraphicsOut:
    """The app's graphics protocol (`graphics.Choice`) and the terminal's image ids: each
    `PixelView` holds one id for its life, so a new image replaces the old under the same id."""

    def __init__(self, app: Any, choice: Choice) -> None:
        self.app = app
        self.choice = choice
        # ids from a random base: programs in other tmux panes of the same kitty window share ids
        self._base = random.randrange(1 << 16, 1 << 23)
        self._free: list[int] = []
        self._next = 0
        self.images_sent = 0  # for tests and benchmarks

    @property
    def protocol(self) -> str:
        return self.choice.protocol

    def allocate(self) -> int:
        if self._free:
            return self._free.pop()
        self._next += 1
        return self._base + self._next

    def release(self, image_id: int) -> None:
        self.write(kitty_delete(image_id, self.choice.tmux))  # only kitty's views hold ids
        self._free.append(image_id)

    def write(self, data: str) -> None:
        """Straight to the terminal, in order with Textual's own output (the same writer)."""
        driver = getattr(self.app, "_driver", None)
        if data and driver is not None:
            driver.write(data)


class PixelView(Widget):
    """One image as large as fits its `ImageBox` (integer scale); the widget is exactly the
    picture's size, so a new frame repaints the picture's cells and nothing else.

    Under a graphics protocol (the app's ``graphics``, see `graphics.py`) the same cells show real
    pixels: kitty placeholders (a new image under the widget's id changes no cell) or an iTerm2
    image written over blank cells after Textual has drawn them."""

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
        self._fixed: tuple[int, int] | None = None  # cells set by the owner (gallery tiles)
        self._shrink: tuple[int, int] | None = None  # (w, h) half blocks draw a picture larger than the box at
        self._out: GraphicsOut | None = None
        self._image_id = 0
        self._sent: tuple[int, int, int, int] | None = None  # (image, cols, rows, x/y) last written
        self._detail: tuple[np.ndarray, np.ndarray] | None = None  # (the picture, more pixels of it)
        self._emit_pending = False

    # -- the picture ------------------------------------------------------------------------------

    @property
    def protocol(self) -> str:
        return self._out.protocol if self._out is not None else "blocks"

    def on_mount(self) -> None:
        out = getattr(self.app, "graphics", None)
        if isinstance(out, GraphicsOut) and out.choice.pixels:
            self._out = out
            self._image_id = out.allocate() if out.protocol == "kitty" else 0

    def on_unmount(self) -> None:
        if self._out is not None and self._image_id:
            self._out.release(self._image_id)
            self._image_id = 0

    def fix_cells(self, width: int, height: int) -> None:
        """Show every picture in exactly ``width`` x ``height`` cells (a gallery tile)."""
        self._fixed = (width, height)
        self.styles.width, self.styles.height = width, height

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
        if self._out is not None and not reshape and image is not None:
            self._send()  # same cells, new pixels: the image alone goes out, no cell is redrawn
            return
        self.refresh()

    def set_detail(self, image: np.ndarray, detail: np.ndarray) -> None:
        """More pixels of ``image`` (its original file, read in the background), sent in its place
        under a graphics protocol while ``image`` is the picture shown; half blocks ignore it."""
        if image is not self._pixels or self._out is None:
            return  # another picture by now, or cells that cannot show more pixels
        self._detail = (image, detail)
        self._send()

    def fit_box(self, width: int, height: int) -> None:
        """Called by the box on resize: choose the scale and size the widget to the picture."""
        self._box = (width, height)
        self._fit()
        self._pixel_strips = []
        self.refresh()

    def _fit(self) -> None:
        if self._pixels is None or self._fixed is not None:
            return
        width, height = self._box
        h, w = self._pixels.shape[:2]
        self._scale = min(self.max_scale, fit_scale(self._pixels.shape, width, height))
        size = (w * self._scale, (h * self._scale + 1) // 2)
        self._shrink = None
        if w > width or h > 2 * height:  # larger than the box even at scale 1: a smaller copy, never a crop
            factor = min(width / w, 2 * height / h)
            self._shrink = (max(1, int(w * factor)), max(1, int(h * factor)))
            size = (self._shrink[0], (self._shrink[1] + 1) // 2)
        if self._out is not None:  # the terminal scales: any size that keeps the aspect and fits
            cols = max(1, min(width, 2 * height * w // max(h, 1), w * self.max_scale, MAX_CELLS))
            size = (cols, max(1, min(MAX_CELLS, (cols * h // max(w, 1) + 1) // 2)))
        if (self.styles.width, self.styles.height) != size:
            self.styles.width, self.styles.height = size

    def _send(self) -> None:
        """Write the current image for the protocol, unless exactly this was written last."""
        out, pixels = self._out, self._pixels
        width, height = self.size
        if out is None or pixels is None or not self.is_mounted or width <= 0 or height <= 0:
            return
        if self._detail is not None and self._detail[0] is pixels:
            pixels = self._detail[1]
        region = self.region
        where = region.x * 10_000 + region.y if out.protocol != "kitty" else 0  # kitty's cells say where
        key = (id(pixels), width, height, where)
        if key == self._sent:
            return  # before any encoding: render_line asks on every repaint
        shown = quantize(pixels, self.levels)
        if out.protocol == "kitty":
            out.write(kitty_transmit(self._image_id, png_bytes(shown), width, height, out.choice.tmux))
        else:  # iterm2, sixel: at the widget's cells on screen, the cursor put back where Textual left it
            if region.width <= 0 or region.height <= 0 or region.width < width or region.height < height:
                return  # partly hidden: an iTerm2 or sixel image cannot be clipped
            picture = iterm2_image(png_bytes(shown), width, height) if out.protocol == "iterm2" else \
                sixel_image(sixel_fit(shown, width * out.choice.cell[0], height * out.choice.cell[1]))
            out.write(f"\x1b7\x1b[{region.y + 1};{region.x + 1}H" + picture + "\x1b8")
        out.images_sent += 1
        self._sent = key

    def repaint_pixels(self) -> None:
        """Textual redrew these cells from its cache (a dialog closed): write the picture again."""
        self._sent = None
        if self.protocol in ("iterm2", "sixel"):
            self._send()

    def _after_paint(self) -> None:
        self._emit_pending = False
        self.repaint_pixels()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._out is not None and self._pixels is not None:
            if self.protocol == "kitty":
                if y == 0:
                    self._send()  # before the cells that show it (a no-op when already sent)
                if y < MAX_CELLS:
                    return Strip([Segment(placeholder_row(y, min(width, MAX_CELLS)), self._id_style())],
                                 min(width, MAX_CELLS)).crop_extend(0, width, self.rich_style)
            elif not self._emit_pending:  # iterm2, sixel: blank cells now, the image once they are out
                self._emit_pending = True
                self.call_after_refresh(self._after_paint)
            return Strip.blank(width, self.rich_style)
        if self._pixels is not None and not self._pixel_strips:
            pixels = self._pixels
            if self._shrink is not None:
                small = PILImage.fromarray(np.asarray(pixels)).resize(self._shrink, PILImage.Resampling.BOX)
                pixels = np.asarray(small)
            self._pixel_strips = image_strips(quantize(pixels, self.levels), self._scale, self.image_colors)
        if not 0 <= y < len(self._pixel_strips):
            return Strip.blank(width, self.rich_style)
        strip = self._pixel_strips[y]
        return strip if strip.cell_length == width else strip.crop_extend(0, width, self.rich_style)

    def _id_style(self) -> Style:
        """The image id as a 24-bit foreground colour (the app writes truecolor under kitty)."""
        image_id = self._image_id
        return Style(color=Color.from_rgb(image_id >> 16 & 255, image_id >> 8 & 255, image_id & 255))


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

