"""Defects found trying tuilabel as new users (issue 11), each through the real entry point."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.data import load_pool
from tuilabel.store import LabelStore
from tuilabel.workspace import Workspace


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuilabel.cli", *argv], capture_output=True, text=True,
                          check=False, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("tuilabel: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def labelled(ws: Workspace, n: int = 5) -> dict:
    s = ws.store.start_session("browse")
    for i in range(n):
        ws.store.add(s, ws.pool.ids[i], int(ws.pool.truth[i]))
    return ws.store.current()


# 1. export never overwrites the workspace's own files; folders and non-empty folders are refused


@pytest.mark.slow
def test_export_refuses_the_workspaces_own_files(sample_workspace, tmp_path):
    ws = sample_workspace
    before = labelled(ws)
    ws.close()
    for target, fmt in [(ws.path / "labels.sqlite", "csv"), (ws.path / "tuilabel.toml", "jsonl"),
                        (ws.path / "pool.npz", "csv"), (ws.path / "models" / "x.csv", "csv"),
                        (ws.path, "imagefolder"), (ws.path.parent, "imagefolder")]:
        one_line_error(run_cli("export", str(ws.path), "--format", fmt, "--out", str(target)), str(target))
    (tmp_path / "elsewhere").mkdir()
    one_line_error(run_cli("export", str(ws.path), "--format", "csv", "--out", str(tmp_path / "elsewhere")),
                   "is a folder")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    one_line_error(run_cli("export", str(ws.path), "--format", "imagefolder", "--out", str(full)), "not empty")
    assert (full / "keep.txt").exists()
    assert run_cli("export", str(ws.path), "--format", "imagefolder", "--out", str(full), "--force").returncode == 0
    assert not (full / "keep.txt").exists() and len(load_pool(full)) == 5
    assert LabelStore(ws.path / "labels.sqlite").current() == before


# 4. any class name writes a config the workspace can read again


def test_class_names_outside_the_bmp_make_a_readable_workspace(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((3, 4, 4), np.uint8), labels=[0, 1, 2])
    names = "cat🐱,dog\u007f,\"quoted\" \\ back"
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "d.npz"), "--classes", names,
                 "--backbone", "none"]) == 0
    ws = Workspace(tmp_path / "ws")
    assert ws.class_names == ["cat🐱", "dog\u007f", "\"quoted\" \\ back"]
    assert main(["status", str(tmp_path / "ws")]) == 0


# 5. 16-bit PNGs keep their grey levels


def test_16_bit_pngs_are_scaled_not_binarised(tmp_path):
    from PIL import Image

    folder = tmp_path / "pngs" / "a"
    folder.mkdir(parents=True)
    ramp = (np.arange(64).reshape(8, 8) * 1040).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(folder / "ramp.png")
    assert Image.open(folder / "ramp.png").mode == "I;16"
    pool = load_pool(tmp_path / "pngs")
    got = pool.images[0].astype(int)
    assert np.abs(got - np.rint(ramp / 65535 * 255)).max() <= 1 and len(np.unique(got)) == 64


# 6. a missing, empty or damaged label store is refused, never silently replaced


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "empty", "garbage"])
def test_a_lost_store_is_a_one_line_error(sample_workspace, damage):
    ws = sample_workspace
    ws.close()
    path = ws.path / "labels.sqlite"
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    if damage == "missing":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes() if path.exists() else None
    for argv in (["status", str(ws.path)], ["export", str(ws.path), "--format", "csv", "--out",
                                             str(ws.path.parent / "x.csv")], ["label", str(ws.path)]):
        one_line_error(run_cli(*argv), str(path))
    assert (path.read_bytes() if path.exists() else None) == before  # left as it was, for a backup to fix


# 7. one folder per class, distinct and reversible; duplicate class names refused at init


def test_imagefolder_class_folders_are_distinct_and_reversible(tmp_path):
    names = [".", "..", "a b", "a?b", "a_b", "_x", "x.", "é/ü"]
    np.savez(tmp_path / "d.npz", images=np.arange(8 * 16, dtype=np.uint8).reshape(8, 4, 4),
             labels=np.arange(8), class_names=np.array(names))
    ws = Workspace.init(tmp_path / "ws", tmp_path / "d.npz")
    s = ws.store.start_session("browse")
    for i in range(8):
        ws.store.add(s, ws.pool.ids[i], i)
    ws.close()
    out = tmp_path / "out"
    assert main(["export", str(ws.path), "--format", "imagefolder", "--out", str(out)]) == 0
    assert len([p for p in out.iterdir() if p.is_dir()]) == 8
    back = load_pool(out)
    assert sorted(back.class_names) == sorted(names)
    for image, label in zip(back.images, back.truth):
        assert names.index(back.class_names[label]) == int(image[0, 0]) // 16  # each image in its class
    np.savez(tmp_path / "dup.npz", images=np.zeros((2, 4, 4), np.uint8), labels=[0, 1],
             class_names=np.array(["cat", "cat"]))
    assert main(["init", str(tmp_path / "ws2"), "--data", str(tmp_path / "dup.npz")]) == 2


def test_a_class_name_too_long_for_a_folder_exports_nothing(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 4, 4), np.uint8), labels=[0, 1],
             class_names=np.array(["ok", "x" * 300]))
    ws = Workspace.init(tmp_path / "ws", tmp_path / "d.npz")
    labelled(ws, 2)
    assert main(["export", str(ws.path), "--format", "imagefolder", "--out", str(tmp_path / "out")]) == 2
    assert "too long for a folder name" in capsys.readouterr().err and not (tmp_path / "out").exists()


# 8. pool items and generated samples apart, in status and in every export format


def test_status_and_export_keep_generated_samples_apart(sample_workspace, tmp_path, capsys):
    ws = sample_workspace
    labelled(ws, 3)
    stream = ws.store.start_session("stream")
    clusters = ws.store.start_session("clusters")
    frame = ws.pool.images[9]
    ws.store.add(stream, None, 4, sample=frame)
    ws.store.add_with_spread(clusters, ws.pool.images[8], 2, 1.0, [])
    assert main(["status", str(ws.path)]) == 0
    out = capsys.readouterr().out
    assert "stream frames" in out and "cluster centres" in out and "human items" in out
    assert main(["export", str(ws.path), "--format", "csv", "--out", str(tmp_path / "l.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "l.csv").read_text().splitlines()))
    assert [r["kind"] for r in rows] == ["item"] * 3 + ["sample"] * 2
    shape = tuple(int(d) for d in rows[3]["shape"].split("x"))
    pixels = np.array(rows[3]["pixels"].split(), dtype=np.uint8).reshape(shape)
    assert np.array_equal(pixels, frame) and rows[0]["pixels"] == ""
    assert main(["export", str(ws.path), "--format", "jsonl", "--out", str(tmp_path / "l.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert {r["mode"] for r in records if r["kind"] == "sample"} == {"stream", "clusters"}
    assert main(["export", str(ws.path), "--format", "imagefolder", "--out", str(tmp_path / "img")]) == 0
    assert len(load_pool(tmp_path / "img")) == 3
    assert {p.parts[-3] for p in (tmp_path / "img" / "_generated").rglob("*.png")} == {"stream", "clusters"}


# 9. no colour: shade characters, in the real app


def test_no_color_draws_shades_in_the_app(sample_workspace, monkeypatch):
    from tuilabel.tui.app import TuilabelApp

    monkeypatch.setenv("NO_COLOR", "1")  # what --colors none sets: Textual then filters to monochrome
    from tuilabel.tui.widgets import PixelView

    async def go():
        app = TuilabelApp(sample_workspace, mode="browse", colors="none")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            view = app.screen.query_one(PixelView)
            text = "".join(seg.text for seg in view.render_line(5))
            assert set(text) & set("░▒▓█")
            await pilot.press("3")
            await pilot.pause()
        return app.return_code

    assert asyncio.run(go()) in (0, None)
    assert len(sample_workspace.store.current()) == 1


# 15. unknown sources are errors


@pytest.mark.slow
def test_unknown_sources_are_errors(sample_workspace, tmp_path):
    labelled(sample_workspace)
    sample_workspace.close()
    one_line_error(run_cli("export", str(sample_workspace.path), "--format", "csv", "--out",
                           str(tmp_path / "x.csv"), "--sources", "humann"), "humann")
    assert not Path(tmp_path / "x.csv").exists()


# 11 / 12. a damaged or inconsistent workspace is one line from every command, the app included


@pytest.mark.slow
def test_damaged_workspace_files_are_one_line_errors(sample_workspace, tmp_path):
    ws = sample_workspace
    labelled(ws)
    ws.close()
    pool = ws.path / "pool.npz"
    good = pool.read_bytes()
    pool.write_bytes(good[: len(good) // 3])  # truncated
    for argv in (["status", str(ws.path)], ["label", str(ws.path)], ["eval", str(ws.path)]):
        one_line_error(run_cli(*argv), str(pool))
    pool.write_bytes(good)
    config = ws.path / "tuilabel.toml"
    text = config.read_text()
    config.write_text(text.replace('names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]',
                                   'names = ["0", "1", "2"]'))
    one_line_error(run_cli("export", str(ws.path), "--format", "csv", "--out", str(tmp_path / "x.csv")),
                   "config names 3 classes but pool.npz has 10")
    config.write_text(text.split("[classes]")[0])
    one_line_error(run_cli("status", str(ws.path)), "no [classes]")


# 2. an undo that reaches the previous page goes back to that page; a key labels only the focused tile


def test_batch_undo_across_pages_and_keys_label_only_the_focused_tile(sample_workspace):
    from tuilabel.tui.app import TuilabelApp

    truth = sample_workspace.pool.truth

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            session = screen.session
            first = [it.item_id for it in session.page]
            for _ in first:  # answer the whole page: a new one comes
                await pilot.press(str(int(truth[session.shown_item()])))
            assert session.page_number == 2
            await pilot.press("z")  # back to page 1, its last tile focused again
            assert session.page_number == 1 and [it.item_id for it in session.page] == first
            assert session.page[session.focus].item_id == first[-1]
            shown = [tile for tile in screen.tiles if "▶" in str(tile.caption.text)]
            assert len(shown) == 1 and len(screen.tiles) >= len(session.page)
            await pilot.resize_terminal(70, 24)  # fewer tiles: the focus stays on a shown one
            await pilot.pause()
            assert session.focus < len(screen.tiles)
            focused = session.page[session.focus].item_id
            await pilot.press("3")
            await pilot.pause()
        return focused

    focused = asyncio.run(go())
    current = sample_workspace.store.current()
    assert current[focused] == (3, 1.0)


# 3. while the terminal is too small to show the image, label keys do nothing


@pytest.mark.slow
def test_label_keys_do_nothing_while_the_image_is_hidden(sample_workspace):
    from tuilabel.tui.app import TuilabelApp

    async def go():
        for mode in ("browse", "batch"):
            app = TuilabelApp(sample_workspace, mode=mode)
            async with app.run_test(size=(50, 14)) as pilot:
                await pilot.pause()
                assert app.screen.too_small
                await pilot.press("3", "x", "enter")
                await pilot.resize_terminal(100, 30)
                await pilot.pause()
                await pilot.press("4")

    asyncio.run(go())
    assert sorted(label for label, _ in sample_workspace.store.current().values()) == [4, 4]


# 10. batch on a tiny pool and on 1x1 images


@pytest.mark.slow
def test_batch_on_a_tiny_pool_and_tiny_images(tmp_path):
    rng = np.random.default_rng(0)
    for shape in [(40, 8, 8), (30, 1, 1)]:
        data = tmp_path / f"d{shape[1]}.npz"
        np.savez(data, images=rng.integers(0, 255, shape, dtype=np.uint8), labels=np.arange(shape[0]) % 2)
        ws = tmp_path / f"ws{shape[1]}"
        assert main(["init", str(ws), "--data", str(data), "--test", str(data), "--backbone", "none"]) == 0
        out = tmp_path / f"c{shape[1]}.json"
        assert main(["simulate", str(ws), "--mode", "batch", "--labels", str(shape[0]), "--set", "epochs=2",
                     "--set", "start=10", "--out", str(out)]) == 0
        curve = json.loads(out.read_text())["curve"]
        assert curve[-1]["labels"] == shape[0] and all(p["accuracy"] is not None for p in curve)
    ws1 = Workspace(tmp_path / "ws1")
    from tuilabel.sessions.batch import BatchSession, BatchSettings

    with pytest.raises(Exception, match="too small for the seed-mnist network"):
        session = BatchSession(ws1, BatchSettings(arch="seed-mnist", start=2, epochs=1))
        for _ in range(2):
            session.handle(__import__("tuilabel.sessions", fromlist=["Action"]).Action("label", 0))
        session.update()


# 13. a model file half-written by a killed save is not a model


def test_a_leftover_temporary_model_file_is_not_listed(sample_workspace, capsys):
    (sample_workspace.models_dir / "cnn.npz.tmp.npz").write_bytes(b"half")
    assert main(["status", str(sample_workspace.path)]) == 0
    assert "models: none yet" in capsys.readouterr().out
    assert main(["eval", str(sample_workspace.path)]) == 0
    assert "no trained models yet" in capsys.readouterr().out


# 20. counts come from the store


def test_counts_come_from_the_store(sample_workspace):
    from tuilabel.sessions import Action
    from tuilabel.sessions.batch import BatchSession, BatchSettings
    from tuilabel.sessions.browse import BrowseSession, BrowseSettings

    browse = BrowseSession(sample_workspace, BrowseSettings(seed=1))
    for action in (Action("label", 1), Action("unsure"), Action("label", 2), Action("undo"), Action("undo")):
        browse.handle(action)
    assert browse.view().labels_spent == 1 == browse.store.session_counts(browse.session_id)[0]
    batch = BatchSession(sample_workspace, BatchSettings(start=20))
    batch.handle(Action("unsure"))
    batch.handle(Action("label", 3))
    view = batch.view()
    assert view.labels == 2 and view.unsure == 1  # one class from browse, one here; the unsure apart


# 21. the stream simulation prints each point once


@pytest.mark.slow
def test_stream_simulation_prints_each_point_once(stream_workspace, tmp_path):
    proc = run_cli("simulate", str(stream_workspace.path), "--mode", "stream", "--seconds", "120",
                   "--set", "chain_length=10", "--out", str(tmp_path / "s.json"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("labels")]
    curve = json.loads((tmp_path / "s.json").read_text())["curve"]
    assert len(lines) == len(set(lines)) == len(curve) == 2  # at 60 s and at 120 s, once each
    assert len({p["seconds"] for p in curve}) == len(curve)


# 16. more than ten classes: every class has a way in from the keyboard


@pytest.mark.slow
def test_more_than_ten_classes_are_typed_as_numbers(tmp_path, capsys):
    from tuilabel.tui.app import HelpScreen, TuilabelApp

    names = [f"c{k}" for k in range(25)]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 255, (60, 8, 8), dtype=np.uint8),
             labels=np.arange(60) % 25, class_names=np.array(names))
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "d.npz"), "--backbone", "none"]) == 0
    assert "c0, c1, c2, c3, c4, c5, c6, c7, … 15 more …, c23, c24" in capsys.readouterr().out
    ws = Workspace(tmp_path / "ws")

    async def go():
        app = TuilabelApp(ws, mode="browse")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            session = app.screen.session
            shown = []
            for keys in (["1", "7"], ["3"], ["2", "enter"]):
                shown.append(session.view().item_id)
                await pilot.press(*keys)
            shown.append(session.view().item_id)
            await pilot.press("1")
            assert "class 1 (c1): ⏎ labels it, or type on for 10..19" in session.view().message
            await pilot.press("escape", "4")  # Esc clears the typed number and stays on the screen
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one("Static").render())
            assert "25 classes: type the number" in text and "24 c24" in text
            assert "Focus" not in text and "Copy" not in text  # Textual's own keys are not listed
        return shown

    shown = asyncio.run(go())
    assert ws.store.current() == {shown[0]: (17, 1.0), shown[1]: (3, 1.0), shown[2]: (2, 1.0), shown[3]: (4, 1.0)}


# 11. in the app: a model for another pool, a store that stops taking writes; read-only workspaces


@pytest.mark.slow
def test_a_mismatched_model_in_the_app_is_a_message_not_a_traceback(sample_workspace):
    from tuilabel.models.cnn import CNNClassifier
    from tuilabel.tui.app import StartScreen, TuilabelApp

    cnn = CNNClassifier(arch="small", epochs=1, patience=0)
    cnn.fit(np.zeros((6, 1, 28, 28), np.float32), np.arange(6) % 3, 3)
    cnn.save(sample_workspace.model_path("cnn"))

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, StartScreen)
            messages = [str(n.message) for n in app._notifications]
            assert any("the model is for 3 classes, the pool has 10" in m for m in messages), messages

    asyncio.run(go())


def test_a_failed_write_is_not_acknowledged(sample_workspace):
    from tuilabel.tui.app import TuilabelApp

    async def go():
        app = TuilabelApp(sample_workspace, mode="browse")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            session = app.screen.session
            before = session.view().item_id
            sample_workspace.store._db.execute("PRAGMA query_only = ON")  # as a full or read-only disk does
            await pilot.press("3")
            await pilot.pause()
            assert session.view().item_id == before  # not moved on: nothing was acknowledged
            assert any("the label was not saved" in str(n.message) for n in app._notifications)
            sample_workspace.store._db.execute("PRAGMA query_only = OFF")
            await pilot.press("3")
        return before

    before = asyncio.run(go())
    assert sample_workspace.store.current() == {before: (3, 1.0)}


def test_a_read_only_workspace_still_shows_status_and_exports(sample_workspace, tmp_path, monkeypatch, capsys):
    import os

    labelled(sample_workspace, 4)
    sample_workspace.close()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if mode == os.W_OK and
                        str(sample_workspace.path) in str(path) else real_access(path, mode))
    assert main(["status", str(sample_workspace.path)]) == 0
    assert "human-labelled items: 4 of 600" in capsys.readouterr().out
    assert main(["export", str(sample_workspace.path), "--format", "csv", "--out", str(tmp_path / "x.csv")]) == 0
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 5
    assert main(["label", str(sample_workspace.path)]) == 2
    assert "read-only" in capsys.readouterr().err


# 12. models made for another pool are refused wherever they are used


@pytest.mark.slow
def test_models_for_another_pool_are_refused(stream_workspace, tmp_path):
    from tuilabel.models.rbm import RBM

    ws = stream_workspace
    rng = np.random.default_rng(0)
    RBM(n_hidden=10, epochs=1).fit(rng.random((20, 784)), 3).save(ws.model_path("rbm"))
    ws.close()
    one_line_error(run_cli("simulate", str(ws.path), "--mode", "stream", "--seconds", "5", "--out",
                           str(tmp_path / "s.json")), "the model is for 3 classes, the pool has 10")
    RBM(n_hidden=10, epochs=1).fit(rng.random((20, 196)), 10).save(ws.model_path("rbm"))
    one_line_error(run_cli("eval", str(ws.path)), "196 visible units", "784 pixels")


# 17 / 19. class names beside their keys; ids without the class folder


def test_keys_show_their_classes_and_ids_hide_the_class_folder(tmp_path):
    from PIL import Image

    from tuilabel.tui.app import TuilabelApp

    for k, name in enumerate(["circle", "square", "triangle"]):
        folder = tmp_path / "shapes" / name
        folder.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 60 * k + i, np.uint8)).save(folder / f"{name[0]}{i}.png")
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "shapes"), "--backbone", "none"]) == 0
    ws = Workspace(tmp_path / "ws")

    async def go():
        app = TuilabelApp(ws, mode="batch")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            balance = str(app.screen.query_one("#balance").text)
            assert "0 circle:0" in balance and "2 triangle:0" in balance
            await pilot.press("5")
            assert "no class 5: keys are 0 circle, 1 square, 2 triangle" in app.screen.session.view().message
            await pilot.press("1")
            message = app.screen.session.view().message
            assert "/" not in message.split(" -> ")[0]  # "c2.png -> square", never "circle/c2.png"
        app = TuilabelApp(ws, mode="browse")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            info = str(app.screen.query_one("#info").text)
            item = info.split("item ")[1].split("\n")[0]
            assert item.endswith(".png") and "/" not in item

    asyncio.run(go())
