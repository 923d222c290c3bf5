"""A sixel decoder for the tests: what a terminal would draw from a DCS sequence (no library on
the registries decodes sixel without a C library)."""

from __future__ import annotations

import re

import numpy as np

_DCS = re.compile(r"\x1bP([0-9;]*)q(.*?)\x1b\\", re.S)


def decode(sequence: str) -> np.ndarray:
    """The first sixel image in ``sequence`` as H x W x 3 uint8 (unpainted pixels black)."""
    m = _DCS.search(sequence)
    assert m, "no sixel sequence"
    body = m.group(2)
    raster = re.match(r'"(\d+);(\d+);(\d+);(\d+)', body)
    assert raster, "no raster attributes"
    width, height = int(raster.group(3)), int(raster.group(4))
    out = np.zeros((height, width, 3), np.uint8)
    palette: dict[int, tuple[int, int, int]] = {}
    colour, x, band = 0, 0, 0
    i = raster.end()
    while i < len(body):
        ch = body[i]
        if ch == "#":
            d = re.match(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?", body[i:])
            assert d
            colour = int(d.group(1))
            if d.group(2) is not None:
                palette[colour] = tuple(round(int(d.group(k)) * 255 / 100) for k in (2, 3, 4))  # type: ignore[assignment]
            i += d.end()
            continue
        if ch == "$":
            x = 0
        elif ch == "-":
            x, band = 0, band + 1
        elif ch == "!":
            r = re.match(r"!(\d+)(.)", body[i:])
            assert r
            _paint(out, palette[colour], x, band, ord(r.group(2)) - 63, int(r.group(1)))
            x += int(r.group(1))
            i += r.end()
            continue
        elif "?" <= ch <= "~":
            _paint(out, palette[colour], x, band, ord(ch) - 63, 1)
            x += 1
        i += 1
    return out


def _paint(out: np.ndarray, rgb: tuple[int, int, int], x: int, band: int, bits: int, n: int) -> None:
    for b in range(6):
        y = band * 6 + b
        if bits >> b & 1 and y < out.shape[0]:
            out[y, x:x + n] = rgb
