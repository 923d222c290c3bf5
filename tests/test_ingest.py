"""Image files in (issue 44): folders, lists and CSVs of paths read in bounded memory and resumably,
every kind of file brought upright to 8 bits, the originals recorded, copied out by export, and
checked by status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuilabel import ingest
from tuilabel.cli import main
from tuilabel.data import load_pool
from tuilabel.workspace import Workspace


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A colour picture with a bright disc in the middle, so that orientation and aspect show."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < (min(w, h) / 3) ** 2
    a = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
    a[disc] = (230, 200, 40)
    a[: max(1, h // 8)] = (200, 30, 30)  # a red band along the top edge
    return Image.fromarray(a)


def test_mixed_sizes_keep_their_aspect_and_the_choice_is_said(tmp_path):
    folder = tmp_path / "shapes"
    (folder / "round").mkdir(parents=True)
    for n in range(3):
        photo(64, 64, n).save(folder / "round" / f"square{n}.png")
    photo(64, 48, 9).save(folder / "round" / "wide.png")
    said: list[str] = []
    pool = load_pool(folder, warn=said.append)
    assert pool.image_shape == (64, 64, 3)
    assert any("display copies 64x64 (3 of 4 images are 64x64" in s for s in said), said
    wide = pool.images[pool.index_of("round/wide.png")]
    # letterboxed: 8 black rows above and below, the disc still round (as wide as it is tall)
    assert not wide[:8].any() and not wide[-8:].any() and wide[8:56].any()
    yellow = (wide[..., 0] > 150) & (wide[..., 1] > 150)
    rows, cols = np.flatnonzero(yellow.any(1)), np.flatnonzero(yellow.any(0))
    assert abs((rows[-1] - rows[0]) - (cols[-1] - cols[0])) <= 2


def test_every_kind_of_file_is_read_upright_and_unreadable_ones_listed_once(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    # a 40x20 picture stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to show)
    upright = photo(20, 40, 1)
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / "a_rotated.jpg", exif=exif, quality=95)
    grey16 = (np.linspace(0, 65535, 20 * 40).reshape(40, 20)).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "b_16bit.png")
    photo(20, 40, 2).convert("CMYK").save(folder / "c_cmyk.jpg")
    photo(20, 40, 3).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "d_palette.png", transparency=0)
    rgba = photo(20, 40, 4).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "e_alpha.png")
    frames = [photo(20, 40, s) for s in (5, 6)]
    frames[0].save(folder / "f_animated.gif", save_all=True, append_images=frames[1:])
    photo(20, 40, 7).save(folder / "g_truncated.jpg", quality=95)
    data = (folder / "g_truncated.jpg").read_bytes()
    (folder / "g_truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    (folder / "h_garbage.png").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("not an image")
    said: list[str] = []
    pool = load_pool(folder, classes=["x"], warn=said.append)
    assert len(pool) == 7 and pool.image_shape == (40, 20, 3)
    assert [s for s in said if "skipped" in s] == [
        f"{folder}: skipped 2 file(s) that are not readable images (notes.txt, h_garbage.png (cannot identify "
        f"image file '{folder / 'h_garbage.png'}'))"]
    rotated = pool.images[pool.index_of("a_rotated.jpg")].astype(int)
    assert rotated[:4, :, 0].mean() > 150 and rotated[-4:, :, 0].mean() < 120  # the red band is on top again
    grey = pool.images[pool.index_of("b_16bit.png")]
    assert grey[0, 0, 0] < 5 and grey[-1, -1, 0] > 250 and 100 < grey[20, 10, 0] < 160  # scaled, not clipped
    assert pool.originals is not None and len(pool.originals) == 7


def test_a_list_and_a_csv_of_paths_are_sources(tmp_path):
    (tmp_path / "img").mkdir()
    for n in range(4):
        photo(16, 16, n).save(tmp_path / "img" / f"{n}.png")
    (tmp_path / "list.txt").write_text("img/0.png\nimg/1.png\n# a comment\n\nimg/3.png\n")
    pool = load_pool(tmp_path / "list.txt", classes=["a", "b"])
    assert pool.ids.tolist() == ["img/0.png", "img/1.png", "img/3.png"] and pool.truth is None
    (tmp_path / "labels.csv").write_text("path,label\nimg/0.png,cat\nimg/2.png,dog\nimg/3.png,\n")
    pool = load_pool(tmp_path / "labels.csv")
    assert pool.class_names == ["cat", "dog"] and pool.truth.tolist() == [0, 1, -1]
    assert pool.originals is not None and str(pool.originals.path(1)) == str((tmp_path / "img" / "2.png").resolve())
    (tmp_path / "bad.csv").write_text("path,label\nimg/0.png,cat\nimg/9.png,dog\nimg/8.png,dog\n")
    with pytest.raises(Exception, match=r"2 of the 3 files it names do not exist \(first: img/9.png, img/8.png\)"):
        load_pool(tmp_path / "bad.csv")


def test_an_interrupted_read_goes_on_where_it_stopped(tmp_path, monkeypatch):
    folder = tmp_path / "many"
    for n in range(40):
        (folder / f"c{n % 2}").mkdir(parents=True, exist_ok=True)
        photo(24, 18, n).save(folder / f"c{n % 2}" / f"{n:03d}.png")
    decoded: list[str] = []
    real = ingest._decode

    def counting(job):
        decoded.append(job[0])
        return real(job)

    monkeypatch.setattr(ingest, "_decode", counting)

    def stop_after(n: int):
        def progress(fraction, text):
            if fraction is not None and len(decoded) >= n:
                raise KeyboardInterrupt
        return progress

    monkeypatch.setattr(ingest, "FLUSH_EVERY", 4)
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        ingest.read_images(folder, work, progress=stop_after(15), workers=1)
    first = len(decoded)
    assert 15 <= first < 40
    said: list[str] = []
    images, _, names, _, _ = ingest.read_images(folder, work, warn=said.append, workers=1)
    assert len(decoded) == 40  # the rest, once each
    assert any(f"{first} of 40 images were read by an earlier run" in s for s in said), said
    whole, *_ = ingest.read_images(folder, tmp_path / "again", workers=1)
    assert np.array_equal(np.asarray(images), np.asarray(whole)) and names == ["c0", "c1"]


def _folder_of_photos(root: Path, n: int, size: tuple[int, int] = (320, 240)) -> Path:
    for i in range(n):
        (root / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        photo(*size, seed=i).save(root / f"class{i % 2}" / f"IMG_{i:04d}.jpg", quality=90)
    return root


def test_init_keeps_the_originals_and_export_gives_them_back(tmp_path, capsys):
    photos = _folder_of_photos(tmp_path / "photos", 6)
    ws_path = tmp_path / "ws"
    assert main(["init", str(ws_path), "--data", str(photos)]) == 0
    assert not (ws_path / ".ingest").exists()
    ws = Workspace(ws_path)
    assert ws.pool.image_shape == (48, 64, 3) and ws.pool.originals is not None
    session = ws.store.start_session("browse")
    for item in ws.pool.ids[:4]:
        ws.store.add(session, item, int(item.startswith("class1")))
    ws.close()
    out = tmp_path / "out"
    assert main(["export", str(ws_path), "--format", "imagefolder", "--out", str(out)]) == 0
    assert "4 original files copied" in capsys.readouterr().out
    for item in Workspace(ws_path).pool.ids[:4]:
        copied = out / item.split("/")[0] / item.replace("/", "__")
        assert copied.read_bytes() == (photos / item).read_bytes()
    linked = tmp_path / "linked"
    assert main(["export", str(ws_path), "--format", "imagefolder", "--out", str(linked), "--link"]) == 0
    first = Workspace(ws_path).pool.ids[0]
    assert (linked / first.split("/")[0] / first.replace("/", "__")).stat().st_ino == (photos / first).stat().st_ino
    assert main(["export", str(ws_path), "--format", "csv", "--out", str(tmp_path / "l.csv")]) == 0
    assert str((photos / first).resolve()) in (tmp_path / "l.csv").read_text()

    # an original that goes missing, one that changes: status says so, export falls back, labeling goes on
    second = Workspace(ws_path).pool.ids[1]
    kept = {item: (photos / item).read_bytes() for item in (first, second)}
    (photos / first).unlink()
    photo(320, 240, 99).save(photos / second, quality=50)
    capsys.readouterr()
    assert main(["status", str(ws_path)]) == 0
    status = capsys.readouterr().out
    assert "originals: 6 files under" in status and "1 missing, 1 changed" in status
    assert main(["export", str(ws_path), "--format", "imagefolder", "--out", str(tmp_path / "o2")]) == 0
    assert "2 written as display copies because the original is missing or changed" in capsys.readouterr().out

    # the folder moves: one command, checked, points the workspace there
    photos.rename(tmp_path / "moved")
    assert main(["originals", str(ws_path), "--root", str(tmp_path / "elsewhere")]) == 2
    assert "not the originals' folder" in capsys.readouterr().err
    assert main(["originals", str(ws_path), "--root", str(tmp_path / "moved")]) == 2  # one missing there too
    assert "1 of 6 originals are not under it" in capsys.readouterr().err
    for item, data in kept.items():
        (tmp_path / "moved" / item).write_bytes(data)
    assert main(["originals", str(ws_path), "--root", str(tmp_path / "moved")]) == 0
    capsys.readouterr()
    assert main(["status", str(ws_path)]) == 0
    assert f"6 files under {(tmp_path / 'moved').resolve()}, all present and unchanged" in capsys.readouterr().out


@pytest.mark.slow
def test_a_killed_init_finishes_when_run_again(tmp_path):
    """The real command with worker processes, killed (SIGKILL) once part of the folder is read."""
    photos = _folder_of_photos(tmp_path / "photos", 400, size=(320, 240))
    ws_path = tmp_path / "ws"
    command = [sys.executable, "-m", "tuilabel.cli", "init", str(ws_path), "--data", str(photos)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    meta = ws_path / ".ingest" / "meta.npy"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if meta.exists():
            try:
                done = int((np.load(meta, mmap_mode="r")[:, 0] != 0).sum())
            except (ValueError, OSError):
                done = 0
            if done >= 40:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "init finished before it could be killed: make the folder larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ws_path / "tuilabel.toml").exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    said = again.stderr
    kept = int(said.split(" of 400 images were read by an earlier run")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert kept >= 40, said
    ws = Workspace(ws_path)
    assert len(ws.pool) == 400 and ws.pool.originals is not None
    assert ws.pool.ids.tolist() == sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.jpg"))
    for index in (0, kept - 1, kept, 399):  # either side of the kill: each is its file's display copy
        with Image.open(photos / ws.pool.ids[index]) as im:
            im.draft(im.mode, (64, 48))
            assert np.array_equal(ws.pool.images[index], ingest.display_copy(im, 64, 48, True))


def test_kitty_shows_the_original_in_browse_once_it_is_read(tmp_path, monkeypatch):
    """Under kitty the browse picture is first the 64-pixel display copy, then the original file read
    on a worker thread, at the same aspect and far more pixels."""
    import asyncio

    from tests.test_graphics import decode_png, kitty_images
    from tuilabel.graphics import Choice
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.widgets import GraphicsOut

    photos = _folder_of_photos(tmp_path / "photos", 4, size=(1200, 900))
    assert main(["init", str(tmp_path / "ws"), "--data", str(photos)]) == 0
    ws = Workspace(tmp_path / "ws")
    written: list[str] = []
    monkeypatch.setattr(GraphicsOut, "write", lambda self, data: written.append(data))

    async def go():
        app = TuilabelApp(ws, mode="browse", graphics=Choice("kitty"))
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(50):
                await pilot.pause(0.1)
                if len(kitty_images("".join(written))) >= 2:
                    break
            await pilot.press("q")

    asyncio.run(go())
    sent = [decode_png(data) for _, data in kitty_images("".join(written))]
    assert sent[0].shape == (48, 64, 3)  # the display copy at once
    assert sent[-1].shape[1] > 64 * 3 and abs(sent[-1].shape[0] / sent[-1].shape[1] - 0.75) < 0.02


def test_add_brings_new_files_into_a_labelled_workspace(tmp_path, capsys):
    photos = _folder_of_photos(tmp_path / "photos", 4)
    ws_path = tmp_path / "ws"
    assert main(["init", str(ws_path), "--data", str(photos)]) == 0
    ws = Workspace(ws_path)
    first = ws.pool.ids[0]
    ws.store.add(ws.store.start_session("browse"), first, 1)
    before = np.array(ws.pool.images)
    ws.close()
    photo(320, 240, 50).save(photos / "class1" / "IMG_new.jpg", quality=90)  # a new photo in the same folder
    (tmp_path / "more" / "class0").mkdir(parents=True)
    photo(640, 480, 51).save(tmp_path / "more" / "class0" / "other.jpg", quality=90)  # and one elsewhere
    photo(64, 64, 52).convert("L").save(tmp_path / "more" / "grey.png")
    capsys.readouterr()
    assert main(["init", str(ws_path), "--data", str(photos), "--add"]) == 0
    assert "added 1 images (4 already in the pool); 5 images now" in capsys.readouterr().out
    assert main(["init", str(ws_path), "--data", str(tmp_path / "more"), "--add"]) == 0
    ws = Workspace(ws_path)
    pool = ws.pool
    assert len(pool) == 7 and pool.image_shape == (48, 64, 3) and np.array_equal(pool.images[:4], before)
    assert pool.ids[4] == "class1/IMG_new.jpg" and pool.truth[4] == 1
    assert pool.ids[5] == str((tmp_path / "more" / "class0" / "other.jpg").resolve()) and pool.truth[5] == 0
    assert pool.truth[6] == -1 and pool.originals is not None and pool.originals.survey() == ([], [])
    assert ws.store.current() == {first: (1, 1.0)}
    assert ws.config["data"]["items"] == 7
    assert main(["init", str(ws_path), "--data", str(photos), "--add"]) == 2
    assert "every image file there is in the pool already" in capsys.readouterr().err


@pytest.mark.slow
def test_kitty_shows_the_original_of_reviews_focused_tile(tmp_path, monkeypatch):
    import asyncio

    from tests.test_graphics import decode_png, kitty_images
    from tuilabel.graphics import Choice
    from tuilabel.sessions.review import ReviewSettings
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.widgets import GraphicsOut

    photos = _folder_of_photos(tmp_path / "photos", 12, size=(640, 480))
    assert main(["init", str(tmp_path / "ws"), "--data", str(photos)]) == 0
    ws = Workspace(tmp_path / "ws")
    session = ws.store.start_session("browse")
    ws.store.add_many(session, [(item, i % 2, 1.0) for i, item in enumerate(ws.pool.ids)])
    written: list[str] = []
    monkeypatch.setattr(GraphicsOut, "write", lambda self, data: written.append(data))

    async def go():
        app = TuilabelApp(ws, mode="review", graphics=Choice("kitty"),
                          settings=ReviewSettings(folds=2, epochs=1, augment="shift"))
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(300):
                await pilot.pause(0.1)
                if any(decode_png(d).shape[1] > 64 for _, d in kitty_images("".join(written))):
                    break
            await pilot.press("q")

    asyncio.run(go())
    widths = [decode_png(data).shape[1] for _, data in kitty_images("".join(written))]
    assert 64 in widths and max(widths) > 64 * 2  # display copies in the tiles, the focused one's original
