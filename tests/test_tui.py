"""The app as a person uses it, through Textual's Pilot."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from textual.widgets import Static

from tuilabel.tui.app import HelpScreen, StartScreen, TuilabelApp
from tuilabel.tui.browse import BrowseScreen
from tuilabel.tui.widgets import PixelView


def run(coro):
    return asyncio.run(coro)


def test_start_screen_shows_workspace_and_modes(sample_workspace):
    async def go():
        app = TuilabelApp(sample_workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, StartScreen)
            summary = str(app.screen.query_one("#summary", Static).render())
            assert "600 images 28x28, 10 classes" in summary
            modes = str(app.screen.query_one("#modes", Static).render())
            assert "browse" in modes and "review" in modes and "not built yet" not in modes

    run(go())


def test_help_lists_every_key_of_the_screen(sample_workspace):
    async def go():
        app = TuilabelApp(sample_workspace, mode="browse")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one(Static).render())
            for needle in ("0-9", "Label", "Unsure", "Undo", "Redo", "Skip", "Quit", "Back"):
                assert needle in text
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, BrowseScreen)

    run(go())


def test_help_says_what_the_mode_is_for_then_its_keys_in_the_footer_order(sample_workspace):
    from textual.containers import VerticalScroll

    from tuilabel.tui.batch import BatchScreen

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch", settings=None)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
            text = str(app.screen.query_one(Static).render())
            assert text.startswith(BatchScreen.HELP)
            assert text.index("Help") < text.index("Quit") < text.index("Label") < text.index("Accept")
            assert "typed class number" not in text  # ten classes: one key a class
            box = app.screen.query_one(VerticalScroll)
            assert "scroll" in str(box.border_subtitle) and box.has_focus
            assert box.region.height <= 24 and box.region.y >= 0  # inside the screen, its border included
            before = box.scroll_y
            await pilot.press("down", "down")
            await pilot.pause()
            assert box.max_scroll_y == 0 or box.scroll_y > before  # the arrows scroll what 24 rows cut

    run(go())


def test_browse_keys_label_into_the_store_and_q_quits(sample_workspace):
    async def go():
        app = TuilabelApp(sample_workspace, mode="browse", annotator="zoe")  # label --annotator zoe
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BrowseScreen)
            shown = [screen.session.view().item_id]
            view = screen.query_one(PixelView)
            assert view._pixels is not None and np.array_equal(
                view._pixels, sample_workspace.pool.images[sample_workspace.pool.index_of(shown[0])]
            )
            for key in ("7", "x", "2"):
                await pilot.press(key)
                shown.append(screen.session.view().item_id)
            await pilot.press("z")  # undo the "2"
            await pilot.pause()
            await pilot.press("q")
            await pilot.pause()
        return shown

    shown = run(go())
    current = sample_workspace.store.current()
    assert current == {shown[0]: (7, 1.0), shown[1]: (None, 1.0)}
    assert {ev.annotator for ev in sample_workspace.store.events()} == {"zoe"}


def test_too_small_terminal_says_how_big(sample_workspace):
    async def go():
        app = TuilabelApp(sample_workspace, mode="browse")
        async with app.run_test(size=(50, 14)) as pilot:
            await pilot.pause()
            notice = app.screen.query_one("#too-small", Static)
            assert notice.display and "at least 60x18" in str(notice.render())
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            assert not app.screen.has_class("-too-small")

    run(go())


def _shown(widget) -> str:
    """The text a widget draws in the rows that are on screen (inside its parents)."""
    bottom = min(w.region.bottom for w in widget.ancestors_with_self if hasattr(w, "region") and w.region.height)
    rows = max(0, min(widget.size.height, bottom - widget.region.y))
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(rows))


@pytest.mark.parametrize("size", [(80, 24), (60, 18)])
def test_the_start_screen_shows_every_mode_at_the_smallest_size(sample_workspace, size):
    from tuilabel.sessions.registry import MODES

    async def go():
        app = TuilabelApp(sample_workspace)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            shown = _shown(app.screen.query_one("#modes"))
            for m in MODES:
                assert f"{m.key} {m.name}" in shown, (m.name, shown)

    run(go())
