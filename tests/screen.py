"""Read a captured terminal screen (``tmux capture-pane -e``) back into pixels.

Each upper-half-block cell becomes two pixels: the foreground colour on top, the background below.
Used by the end-to-end tests to check that what the terminal shows is the image, and to save a PNG
of a screen for a person to look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import numpy as np

from tuilabel.render import FULL_BLOCK, UPPER_HALF

BLOCKS = (UPPER_HALF, FULL_BLOCK)

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _xterm_rgb(n: int) -> tuple[int, int, int]:
    if n < 16:
        base = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
                (192, 192, 192), (128, 128, 128), (255, 0, 0), (0, 255, 0), (255, 255, 0), (0, 0, 255),
                (255, 0, 255), (0, 255, 255), (255, 255, 255)]
        return base[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return levels[n // 36], levels[(n // 6) % 6], levels[n % 6]
    g = 8 + 10 * (n - 232)
    return g, g, g


def _apply_sgr(params: str, fg, bg):
    codes = [int(c) if c else 0 for c in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            fg = bg = None
        elif c in (38, 48) and i + 1 < len(codes):
            if codes[i + 1] == 5:
                rgb = _xterm_rgb(codes[i + 2])
                i += 2
            else:
                rgb = tuple(codes[i + 2 : i + 5])
                i += 4
            if c == 38:
                fg = rgb
            else:
                bg = rgb
        elif c == 39:
            fg = None
        elif c == 49:
            bg = None
        i += 1
    return fg, bg


def screen_cells(captured: str) -> list[list[tuple[str, tuple | None, tuple | None]]]:
    """(character, fg rgb, bg rgb) for every cell of every line."""
    rows = []
    fg = bg = None
    for line in captured.split("\n"):
        cells = []
        pos = 0
        for m in SGR.finditer(line):
            cells.extend((ch, fg, bg) for ch in line[pos : m.start()])
            fg, bg = _apply_sgr(m.group(1), fg, bg)
            pos = m.end()
        cells.extend((ch, fg, bg) for ch in line[pos:])
        rows.append(cells)
    return rows


def half_block_pixels(captured: str) -> np.ndarray:
    """The bounding box of block cells on the screen, as a grey ``2R x C`` image.

    A half block is its foreground over its background; a full block is its foreground twice.
    """
    rows = screen_cells(captured)
    hits = [(y, x) for y, row in enumerate(rows) for x, (ch, _, _) in enumerate(row) if ch in BLOCKS]
    if not hits:
        return np.zeros((0, 0), np.uint8)
    columns = {x for _, x in hits}
    x0 = x1 = min(columns)
    while x1 + 1 in columns:  # the first contiguous band of columns: the picture, not bar charts
        x1 += 1
    hits = [(y, x) for y, x in hits if x0 <= x <= x1]
    y0, y1 = min(y for y, _ in hits), max(y for y, _ in hits)
    out = np.zeros((2 * (y1 - y0 + 1), x1 - x0 + 1), np.uint8)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            if x < len(rows[y]) and rows[y][x][0] in BLOCKS:
                ch, fg, bg = rows[y][x]
                if ch == FULL_BLOCK:
                    bg = fg
                out[2 * (y - y0), x - x0] = int(np.mean(fg)) if fg else 0
                out[2 * (y - y0) + 1, x - x0] = int(np.mean(bg)) if bg else 0
    return out


def screen_png(captured: str, path, cell: int = 8) -> None:
    """Save the whole captured screen as a PNG (each cell a block of pixels) for a person to look at."""
    from PIL import Image, ImageDraw

    rows = screen_cells(captured)
    width = max((len(r) for r in rows), default=1)
    img = Image.new("RGB", (width * cell, len(rows) * cell * 2), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (ch, fg, bg) in enumerate(row):
            top = fg if ch in BLOCKS else (bg or (0, 0, 0))
            bottom = (fg if ch == FULL_BLOCK else bg) or (0, 0, 0)
            if ch not in (" ", *BLOCKS) and fg:
                top = bottom = tuple(int(0.5 * a + 0.5 * b) for a, b in zip(fg, bottom))
            left, right = x * cell, (x + 1) * cell - 1
            draw.rectangle([left, 2 * y * cell, right, (2 * y + 1) * cell - 1], fill=tuple(top or (0, 0, 0)))
            draw.rectangle([left, (2 * y + 1) * cell, right, (2 * y + 2) * cell - 1], fill=tuple(bottom))
    img.save(path)


def wait_for(read: Callable[[], str], pattern: str, timeout: float = 30.0, every: float = 0.2) -> re.Match:
    """Poll ``read()`` (a pane's capture, a pty's output) until ``pattern`` is in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, read())
        if m:
            return m
        time.sleep(every)
    raise AssertionError(f"{pattern!r} never appeared; last seen:\n{read()[-2000:]}")
