"""The batch and review galleries fit the terminal: whole tiles, captions on screen, at least a few
per page, whatever the size of the pool's images."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.workspace import Workspace


@pytest.fixture(scope="module")
def colour_workspace(tmp_path_factory) -> Workspace:
    """64x64 colour images, three classes (the pool of issue 48's first defect)."""
    root = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (60, 64, 64, 3), dtype=np.uint8)
    np.savez(root / "d.npz", images=images, labels=np.arange(60) % 3)
    assert main(["init", str(root / "ws"), "--data", str(root / "d.npz"), "--backbone", "none"]) == 0
    return Workspace(root / "ws")


def _gallery(ws: Workspace, mode: str, size: tuple[int, int]) -> tuple[int, float, list[bool], str]:
    from tuilabel.sessions.registry import mode as mode_spec
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.gallery import GalleryScreen

    async def go() -> tuple[int, float, list[bool], str]:
        settings = mode_spec(mode).make_settings(["start=1000"] if mode == "batch" else [])
        app = TuilabelApp(ws, mode=mode, settings=settings)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, GalleryScreen)
            footer = size[1] - 1
            whole = [t.region.height > 0 and t.region.bottom <= footer and t.region.right <= size[0]
                     for t in screen.tiles]
            captions = " ".join(t.caption._text.plain for t in screen.tiles)
            await pilot.press("q")
            return len(screen.tiles), screen.scale, whole, captions

    return asyncio.run(go())


@pytest.mark.parametrize("size", [(80, 24), (60, 18)])
def test_batch_shows_whole_colour_tiles_with_the_focus_caption(colour_workspace, size):
    tiles, scale, whole, captions = _gallery(colour_workspace, "batch", size)
    assert all(whole) and "▶" in captions
    assert tiles >= (4 if size == (80, 24) else 2) and scale < 1


def test_digits_at_80x24_fill_the_page_with_half_size_tiles(sample_workspace):
    tiles, scale, whole, captions = _gallery(sample_workspace, "batch", (80, 24))
    assert (tiles, scale) == (10, 0.5) and all(whole) and "▶" in captions


def test_a_large_terminal_shows_full_size_tiles(colour_workspace):
    tiles, scale, whole, _ = _gallery(colour_workspace, "batch", (200, 80))
    assert scale == 1 and tiles >= 4 and all(whole)
