"""Images as terminal cells: one upper half block per cell, top pixel in the foreground colour,
bottom pixel in the background colour, so a cell shows two square-ish pixels (a cell whose two
pixels agree is a full block in the foreground colour, which costs half the bytes).

`image_strips` is the fast path for Textual widgets (Line API); `HalfBlockImage` is the same picture
as a Rich renderable, for plain consoles and headless dumps. Runs of equal cells are merged into one
segment, and styles are cached, so a 28x28 digit costs a few dozen segments, not 392.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "\u2580"
FULL_BLOCK = "\u2588"
SHADES = " \u2591\u2592\u2593\u2588"  # no-colour fallback: one shade per cell (two pixels averaged)
COLOR_MODES = ("truecolor", "256", "none")


def detect_colors(env: dict[str, str] | None = None, isatty: bool | None = None) -> str:
    """What ``--colors auto`` means here. SSH forwards TERM but not COLORTERM, so it is often 256."""
    env = dict(os.environ) if env is None else env
    if "NO_COLOR" in env or env.get("TERM") == "dumb":
        return "none"
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    if isatty is None:
        isatty = sys.stdout.isatty()
    term = env.get("TERM", "")
    if not term and not isatty:
        return "none"
    return "256"


# -- colour quantisation --------------------------------------------------------------------------

# xterm-256 entries that are pure greys: black, the 24-step ramp, the cube's greys, white.
_GREY_INDEX = np.array([16, *range(232, 256), 59, 102, 145, 188, 231])
_GREY_VALUE = np.array([0, *(8 + 10 * i for i in range(24)), 95, 135, 175, 215, 255])
_CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255])


def _grey_to_xterm_table() -> np.ndarray:
    diff = np.abs(np.arange(256)[:, None] - _GREY_VALUE[None, :])
    return _GREY_INDEX[diff.argmin(axis=1)].astype(np.int32)


GREY_TO_XTERM = _grey_to_xterm_table()
XTERM_GREY_VALUE = np.zeros(256, np.int32)
XTERM_GREY_VALUE[_GREY_INDEX] = _GREY_VALUE


def rgb_to_xterm(rgb: np.ndarray) -> np.ndarray:
    """Nearest xterm-256 index for ``... x 3`` uint8 colours (6x6x6 cube or grey ramp)."""
    rgb = rgb.astype(np.int32)
    cube_idx = np.abs(rgb[..., None] - _CUBE_LEVELS).argmin(axis=-1)
    cube_rgb = _CUBE_LEVELS[cube_idx]
    cube_code = 16 + 36 * cube_idx[..., 0] + 6 * cube_idx[..., 1] + cube_idx[..., 2]
    grey = rgb.mean(axis=-1).round().astype(np.int32)
    grey_code = GREY_TO_XTERM[grey]
    grey_val = XTERM_GREY_VALUE[grey_code]
    cube_err = ((cube_rgb - rgb) ** 2).sum(axis=-1)
    grey_err = ((grey_val[..., None] - rgb) ** 2).sum(axis=-1)
    return np.where(grey_err < cube_err, grey_code, cube_code).astype(np.int32)


_STYLE_CACHE: dict[str, dict[int, Style]] = {"truecolor": {}, "256": {}}
_HALVES = [UPPER_HALF * n for n in range(512)]
_FULLS = [FULL_BLOCK * n for n in range(512)]


def _style(key: int, mode: str) -> Style:
    """The style for a cell pair key ``fg << 24 | bg`` (0xRRGGBB codes, or xterm indices in 256)."""
    cache = _STYLE_CACHE[mode]
    style = cache.get(key)
    if style is None:
        fg, bg = key >> 24, key & 0xFFFFFF

        def colour(code: int) -> Color:
            if mode == "256":
                return Color.from_ansi(code)
            return Color.from_rgb(code >> 16, (code >> 8) & 255, code & 255)

        # A cell whose two pixels agree is a full block in the foreground colour: half the escape.
        style = Style(color=colour(fg)) if fg == bg else Style(color=colour(fg), bgcolor=colour(bg))
        if len(cache) > 200_000:
            cache.clear()
        cache[key] = style
    return style


def _cell_codes(image: np.ndarray, mode: str) -> np.ndarray:
    """One integer per pixel: 0xRRGGBB in truecolor, an xterm index in 256, a shade level in none."""
    if mode == "none":
        grey = image if image.ndim == 2 else image.mean(axis=-1)
        return grey.astype(np.int32)
    if image.ndim == 2:
        if mode == "256":
            return GREY_TO_XTERM[image]
        g = image.astype(np.int32)
        return (g << 16) | (g << 8) | g
    if mode == "256":
        return rgb_to_xterm(image)
    rgb = image.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def quantize(image: np.ndarray, levels: int) -> np.ndarray:
    """Round each channel to ``levels`` evenly spaced values: more equal neighbours, fewer bytes.

    For display only (model samples have noisy near-black backgrounds that defeat run merging).
    """
    if levels >= 256:
        return image
    step = 255.0 / (levels - 1)
    return (np.round(image / step) * step + 0.5).astype(np.uint8)


def scale_image(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def fit_scale(shape: tuple[int, ...], width: int, height: int) -> int:
    """The largest integer scale whose half-block picture fits ``width`` x ``height`` cells."""
    h, w = shape[:2]
    return max(1, min(width // max(w, 1), (2 * height) // max(h, 1)))


def _runs(codes: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Runs of equal values along each row: (row, length, value) lists, in reading order."""
    width = codes.shape[1]
    flat = codes.ravel()
    new_run = np.empty(flat.shape, bool)
    new_run[0] = True
    new_run[1:] = flat[1:] != flat[:-1]
    new_run[::width] = True
    starts = np.flatnonzero(new_run)
    lengths = np.diff(np.append(starts, flat.size))
    return (starts // width).tolist(), lengths.tolist(), flat[starts].tolist()


def image_rows(image: np.ndarray, scale: int = 1, mode: str = "truecolor") -> list[list[Segment]]:
    """Segments per terminal row; runs of identical cells are merged into one segment."""
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode must be one of {COLOR_MODES}, not {mode!r}")
    codes = _cell_codes(scale_image(np.asarray(image), scale), mode)
    if codes.shape[0] % 2:
        codes = np.vstack([codes, np.zeros((1, codes.shape[1]), codes.dtype)])  # odd height: black row
    top, bottom = codes[0::2], codes[1::2]
    rows: list[list[Segment]] = [[] for _ in range(top.shape[0])]
    if mode == "none":
        shade = ((top + bottom) * (len(SHADES) - 1) + 255) // 510
        for y, n, level in zip(*_runs(shade)):
            rows[y].append(Segment(SHADES[level] * n, Style()))
        return rows
    halves, fulls = _HALVES, _FULLS
    for y, n, key in zip(*_runs(top.astype(np.int64) << 24 | bottom)):
        if key >> 24 == key & 0xFFFFFF:
            text = fulls[n] if n < 512 else FULL_BLOCK * n
        else:
            text = halves[n] if n < 512 else UPPER_HALF * n
        rows[y].append(Segment(text, _style(key, mode)))
    return rows


class HalfBlockImage:
    """A Rich renderable of a uint8 image (grayscale ``H x W`` or RGB ``H x W x 3``)."""

    def __init__(self, image: np.ndarray, scale: int | None = 1, colors: str = "truecolor") -> None:
        self.image = np.asarray(image)
        self.scale = scale  # None: fit to the space the console offers
        self.colors = colors

    def _scale_for(self, max_width: int, max_height: int | None) -> int:
        if self.scale is not None:
            return self.scale
        return fit_scale(self.image.shape, max_width, max_height or 10**6)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = self.image.shape[1] * self._scale_for(options.max_width, options.height)
        return Measurement(width, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        scale = self._scale_for(options.max_width, options.height)
        for row in image_rows(self.image, scale, self.colors):
            yield from row
            yield Segment.line()


def image_strips(image: np.ndarray, scale: int = 1, mode: str = "truecolor") -> list:
    """Textual strips for a widget's ``render_line``."""
    from textual.strip import Strip

    width = image.shape[1] * scale
    return [Strip(row, width) for row in image_rows(image, scale, mode)]
