from __future__ import annotations

import numpy as np
from rich.console import Console

from tuilabel.render import (
    FULL_BLOCK,
    GREY_TO_XTERM,
    UPPER_HALF,
    HalfBlockImage,
    detect_colors,
    fit_scale,
    image_rows,
    image_strips,
    rgb_to_xterm,
)


def test_exact_cells_for_a_tiny_image_in_truecolor():
    image = np.array([[0, 255, 255], [0, 0, 128]], np.uint8)  # 2 rows -> 1 terminal row
    (row,) = image_rows(image, 1, "truecolor")
    # equal pixels make a full block in the foreground colour alone (half the bytes)
    assert [seg.text for seg in row] == [FULL_BLOCK, UPPER_HALF, UPPER_HALF]
    styles = [(seg.style.color.triplet, seg.style.bgcolor and seg.style.bgcolor.triplet) for seg in row]
    assert styles == [((0, 0, 0), None), ((255, 255, 255), (0, 0, 0)), ((255, 255, 255), (128, 128, 128))]


def test_runs_merge_and_odd_heights_pad():
    image = np.zeros((3, 5), np.uint8)
    rows = image_rows(image, 1, "truecolor")
    assert len(rows) == 2 and [len(r) for r in rows] == [1, 1]
    assert rows[0][0].text == FULL_BLOCK * 5


def test_scale_repeats_pixels():
    image = np.array([[10, 200], [30, 40]], np.uint8)
    rows = image_rows(image, 2, "truecolor")
    assert len(rows) == 2  # 2 pixel rows x2 = 4 rows = two cell rows, each pixel a 2x2 block
    cells = [(s.text, s.style.color.triplet) for s in rows[0]]
    assert cells == [(FULL_BLOCK * 2, (10,) * 3), (FULL_BLOCK * 2, (200,) * 3)]


def test_256_colour_grey_ramp_is_monotone_and_close():
    # the grey ramp must still read well over SSH: monotone, and within 10 levels of the truth
    from tuilabel.render import XTERM_GREY_VALUE

    shown = XTERM_GREY_VALUE[GREY_TO_XTERM[np.arange(256)]]
    assert (np.diff(shown) >= 0).all()
    assert np.abs(shown - np.arange(256)).max() <= 10
    assert rgb_to_xterm(np.array([[255, 0, 0]], np.uint8)).tolist() == [196]
    assert rgb_to_xterm(np.array([[128, 128, 128]], np.uint8)).tolist() == [244]


def test_no_colour_fallback_uses_shades():
    image = np.array([[0, 128, 255], [0, 128, 255]], np.uint8)
    (row,) = image_rows(image, 1, "none")
    assert "".join(s.text for s in row) == " \u2592\u2588"
    # no colour, but a style all the same: Textual's monochrome filter reads every segment's style
    assert all(s.style is not None and s.style.color is None and s.style.bgcolor is None for s in row)


def test_rich_renderable_prints_on_a_plain_console_and_fits():
    image = np.full((4, 6), 255, np.uint8)
    console = Console(width=40, color_system="truecolor", record=True, force_terminal=True)
    console.print(HalfBlockImage(image, scale=None))
    text = console.export_text()
    assert text.splitlines()[0] == FULL_BLOCK * 36  # fit to 40 columns: scale 6
    assert fit_scale((28, 28), 80, 24) == 1 and fit_scale((28, 28), 120, 60) == 4


def test_quantize_rounds_to_even_levels():
    from tuilabel.render import quantize

    image = np.array([[0, 3, 5, 130, 252, 255]], np.uint8)
    assert quantize(image, 32).tolist() == [[0, 0, 8, 132, 255, 255]]
    assert quantize(image, 256) is image


def test_strips_have_the_image_width():
    image = np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)
    strips = image_strips(image, 2, "256")
    assert len(strips) == 28 and all(s.cell_length == 56 for s in strips)


def test_detect_colors():
    assert detect_colors({"COLORTERM": "truecolor", "TERM": "xterm"}, True) == "truecolor"
    assert detect_colors({"TERM": "xterm-256color"}, True) == "256"  # SSH: TERM, no COLORTERM
    assert detect_colors({"TERM": "dumb"}, True) == "none"
    assert detect_colors({"NO_COLOR": "1", "COLORTERM": "truecolor"}, True) == "none"
