"""The person's own keys: ``[keys]`` in tuilabel.toml, checked at start, in the footer and the help."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Footer, Static

from tuilabel.cli import main
from tuilabel.tui.app import HelpScreen, TuilabelApp, screen_bindings
from tuilabel.tui.browse import BrowseScreen
from tuilabel.tui.keys import binding_id, check_keymap


def test_every_binding_has_an_id_named_for_what_it_does_and_the_same_in_every_mode():
    assert binding_id("session('undo')") == "undo"
    assert binding_id("session('confidence', 'high')") == "confidence-high"
    assert binding_id("app.quit") == "quit" and binding_id("open_mode('batch')") == "open_mode-batch"
    screens = dict(screen_bindings())
    assert set(screens) == {"start", "browse", "batch", "clusters", "stream", "review"}
    for name, bindings in screens.items():
        ids = [b.id for b in bindings if not b.system]
        assert all(ids), name
        if name != "start":
            assert {"undo", "quit", "help", "back", "class-0", "class-9"} <= set(ids), name


def test_a_keymap_is_checked_against_every_screen(tmp_path):
    from tuilabel.errors import TuilabelError

    screens = screen_bindings()
    assert check_keymap({"undo": "u", "class-0": "j", "help": "?"}, screens, tmp_path) == {
        "undo": "u", "class-0": "j", "help": "question_mark"}
    assert check_keymap({"undo": "y", "redo": "z"}, screens, tmp_path)  # a swap is no clash
    for keys, said in [({"undoo": "u"}, "no such action"), ({"undo": "ctrl+"}, "not a key"),
                       ({"undo": "x"}, "two things on the browse screen (unsure and undo)"),
                       ({"class-3": "4"}, "two things"), ({"undo": 5}, "not a key"),
                       ({"class-0": "a"}, "two things on the stream screen (class-0 and toggle_autospeed)")]:
        with pytest.raises(TuilabelError, match=said.replace("(", r"\(").replace(")", r"\)")):
            check_keymap(keys, screens, tmp_path)


def test_a_bad_keys_table_stops_label_with_one_line(sample_workspace, capsys):
    path = sample_workspace.path / "tuilabel.toml"
    path.write_text(path.read_text() + '\n[keys]\nundo = "x"\n')
    sample_workspace.close()
    assert main(["label", str(sample_workspace.path), "--mode", "browse"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tuilabel.toml" in err and "unsure and undo" in err


def test_remapped_keys_label_undo_and_show_in_the_footer_and_help(sample_workspace):
    keymap = check_keymap({"undo": "u", "class-3": "j", "unsure": "comma"}, screen_bindings(), None)

    async def go():
        app = TuilabelApp(sample_workspace, mode="browse", keymap=keymap)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BrowseScreen)
            first = screen.session.view().item_id
            await pilot.press("j")  # class 3 now
            second = screen.session.view().item_id
            await pilot.press("3")  # no longer anything
            await pilot.press("z")  # nor this: undo moved to u
            assert screen.session.view().item_id == second
            await pilot.press("comma", "u")  # unsure, then undo it
            await pilot.pause()
            footer = app.screen.query_one(Footer)
            shown = " ".join(str(w.render()) for w in footer.query("FooterKey"))
            assert "u Undo" in shown.replace("  ", " ") and "⌫/z" not in shown
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one(Static).render())
            assert "Label: 3 (3)" in text and "Undo" in text
        return first

    first = asyncio.run(go())
    assert sample_workspace.store.current() == {first: (3, 1.0)}
