"""Settings a person keeps: `label --save` writes the mode's `--set` values into tuilabel.toml, and
every later start of the mode (from the command line or the start screen) begins from them."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tuilabel.cli import _start_settings, main
from tuilabel.errors import TuilabelError
from tuilabel.workspace import Workspace

from .conftest import make_pool


@pytest.fixture
def ws(tmp_path):
    pool = make_pool(n=30)
    np.savez(tmp_path / "p.npz", images=pool.images, labels=pool.truth)
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "p.npz"), "--backbone", "none"]) == 0
    return Workspace(tmp_path / "ws")


def test_saved_settings_come_back_and_set_goes_over_them(ws, capsys):
    settings = _start_settings("batch", ["strategy=margin", "cv_folds=5"], ws, save=True)
    assert settings.strategy == "margin" and "kept in" in capsys.readouterr().err
    again = Workspace(ws.path)
    assert again.saved_settings("batch") == {"strategy": "margin", "cv_folds": 5}
    assert 'strategy = "margin"' in (ws.path / "tuilabel.toml").read_text()
    later = _start_settings("batch", [], again)
    assert later.strategy == "margin" and later.cv_folds == 5
    over = _start_settings("batch", ["strategy=entropy"], again)
    assert over.strategy == "entropy" and over.cv_folds == 5
    assert _start_settings("review", [], again).mode == "review"  # another mode's table: untouched
    assert Workspace(ws.path).class_names == ws.class_names  # the rest of the config kept


def test_a_bad_kept_value_is_one_line_naming_the_file(ws):
    text = (ws.path / "tuilabel.toml").read_text() + '\n[batch]\nstrategy = "nope"\n'
    (ws.path / "tuilabel.toml").write_text(text)
    with pytest.raises(TuilabelError, match=r"tuilabel.toml: \[batch\] in tuilabel.toml: .*strategy"):
        _start_settings("batch", [], Workspace(ws.path))
    with pytest.raises(TuilabelError, match="--save needs --mode"):
        _start_settings(None, [], Workspace(ws.path), save=True)


def test_the_start_screen_opens_a_mode_with_its_kept_settings(ws):
    from tuilabel.tui.app import TuilabelApp

    ws.save_settings("batch", {"strategy": "margin"})

    async def go() -> str:
        app = TuilabelApp(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("a")
            await pilot.pause()
            strategy = app.screen.settings.strategy
            await pilot.press("q")
        return strategy

    assert asyncio.run(go()) == "margin"
