"""Real pixels: the protocols' sequences, the choice of protocol, and the real app in a pty whose
output is decoded back into the pool's pixels (kitty placeholders and iTerm2 inline images)."""

from __future__ import annotations

import base64
import fcntl
import io
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuilabel.graphics import (
    DIACRITICS,
    KITTY_CHUNK,
    PLACEHOLDER,
    Choice,
    choose,
    iterm2_image,
    kitty_transmit,
    parse_replies,
    placeholder_row,
    png_bytes,
    tmux_wrap,
)
from tuilabel.store import LabelStore
from tuilabel.workspace import Workspace

from .screen import wait_for
from .sixel import decode as decode_sixel

APC = re.compile(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\")
SIXEL = re.compile(r"\x1b7\x1b\[(\d+);(\d+)H(\x1bP[0-9;]*q.*?\x1b\\)\x1b8", re.S)
ITERM = re.compile(r"\x1b7\x1b\[(\d+);(\d+)H\x1b\]1337;File=([^:]*):([^\x07]*)\x07\x1b8")
PLACED = re.compile("\x1b\\[38;2;(\\d+);(\\d+);(\\d+)m((?:" + PLACEHOLDER + "..)+)")


def kitty_images(text: str) -> list[tuple[dict[str, str], bytes]]:
    """Every kitty transmission in ``text``: its keys and its payload, chunks joined and decoded."""
    images, keys, data = [], None, ""
    for head, chunk in APC.findall(text):
        fields = dict(kv.split("=", 1) for kv in head.split(","))
        if keys is None:
            keys, data = fields, ""
        data += chunk
        if fields.get("m", "0") == "0":
            images.append((keys, base64.b64decode(data)))
            keys = None
    return images


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def placements(text: str) -> dict[int, set[tuple[int, int]]]:
    """The (row, column) of every kitty placeholder cell written, by image id (its colour)."""
    index = {d: n for n, d in enumerate(DIACRITICS)}
    cells: dict[int, set[tuple[int, int]]] = {}
    for r, g, b, run in PLACED.findall(text):
        image_id = int(r) << 16 | int(g) << 8 | int(b)
        for k in range(0, len(run), 3):
            cells.setdefault(image_id, set()).add((index[run[k + 1]], index[run[k + 2]]))
    return cells


# -- the sequences ---------------------------------------------------------------------------------


def test_kitty_transmission_chunks_reassemble_to_the_png():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # noise: a PNG of several chunks
    png = png_bytes(image)
    text = kitty_transmit(7, png, 20, 10)
    heads = [h for h, _ in APC.findall(text)]
    assert len(heads) == -(-len(base64.b64encode(png)) // KITTY_CHUNK) > 1
    assert heads[0].startswith("a=T,U=1,f=100") and "i=7" in heads[0] and "c=20,r=10" in heads[0]
    assert all(h == "m=1" for h in heads[1:-1]) and heads[-1] == "m=0"
    [(_keys, data)] = kitty_images(text)
    assert np.array_equal(decode_png(data), image)


def test_tmux_passthrough_doubles_every_escape():
    seq = "\x1b_Ga=T;AAAA\x1b\\"
    wrapped = tmux_wrap(seq)
    assert wrapped.startswith("\x1bPtmux;") and wrapped.endswith("\x1b\\")
    assert wrapped[len("\x1bPtmux;"):-2].replace("\x1b\x1b", "\x1b") == seq


def test_placeholder_rows_name_every_cell():
    row = placeholder_row(3, 5)
    assert row.count(PLACEHOLDER) == 5 and len(row) == 15
    assert [row[k + 1] for k in range(0, 15, 3)] == [DIACRITICS[3]] * 5
    assert [row[k + 2] for k in range(0, 15, 3)] == list(DIACRITICS[:5])
    text = "\x1b[38;2;0;1;2m" + row
    assert placements(text) == {0x000102: {(3, c) for c in range(5)}}


def test_iterm2_inline_image_carries_the_png_and_its_cells():
    png = png_bytes(np.arange(64, dtype=np.uint8).reshape(8, 8))
    seq = iterm2_image(png, 6, 3)
    args, data = seq[len("\x1b]1337;File="):-1].split(":", 1)
    assert "width=6" in args and "height=3" in args and f"size={len(png)}" in args
    assert base64.b64decode(data) == png


def test_replies_are_read_up_to_the_device_attributes():
    kitty = b"\x1b_Gi=31;OK\x1b\\\x1bP>|kitty(0.35.2)\x1b\\\x1b[?62;c"
    assert parse_replies(kitty).kitty and parse_replies(kitty).name == "kitty(0.35.2)"
    plain = b"\x1b[?62;4;22c"
    assert parse_replies(plain).answered and not parse_replies(plain).kitty and parse_replies(plain).sixel
    assert not parse_replies(b"\x1b_Gi=31;OK\x1b\\").answered  # no attributes yet: keep reading


def test_choice_falls_back_to_half_blocks_where_pixels_cannot_work():
    env = {"TERM": "xterm-256color"}
    assert choose("blocks", "truecolor", env).protocol == "blocks"
    assert choose("kitty", "truecolor", env) == Choice("kitty", reason="asked for")
    assert choose("kitty", "none", env).protocol == "blocks"  # the id is a colour
    assert choose("auto", "truecolor", {"TERM": "dumb"}).protocol == "blocks"
    assert choose("auto", "truecolor", env, fd_in=None, fd_out=None).reason == "not a terminal"
    no_server = {**env, "TMUX": "/nonexistent/tmux-socket,1,0", "TMUX_PANE": "%0"}
    assert "allow-passthrough" in choose("kitty", "truecolor", no_server).reason
    with pytest.raises(ValueError):
        choose("sixels", "truecolor", env)


# -- the real app in a pseudo-terminal --------------------------------------------------------------


class Pty:
    """`tuilabel` in a pseudo-terminal of 80x24, its output collected; optionally a fake terminal
    that answers the queries it recognises after ``delay`` seconds (a slow link)."""

    def __init__(self, argv: list[str], answers: dict[bytes, bytes] | None = None, delay: float = 0.0,
                 env: dict[str, str] | None = None) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        exe = Path(sys.executable).with_name("tuilabel")
        full_env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", **(env or {})}
        for key in ("TMUX", "TMUX_PANE", "NO_COLOR"):
            full_env.pop(key, None)
        self.proc = subprocess.Popen([str(exe) if exe.exists() else "tuilabel", *argv], stdin=slave,
                                     stdout=slave, stderr=slave, env=full_env, start_new_session=True)
        os.close(slave)
        self.master, self.answers, self.delay = master, dict(answers or {}), delay
        self.data = b""
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while self.running:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            with self.lock:
                self.data += chunk
            for query, answer in list(self.answers.items()):
                if query in self.data:
                    del self.answers[query]
                    threading.Timer(self.delay, os.write, (self.master, answer)).start()

    def text(self) -> str:
        with self.lock:
            return self.data.decode("utf-8", "replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        return wait_for(self.text, pattern, timeout, every=0.1)

    def send(self, keys: str, pause: float = 0.5) -> None:
        os.write(self.master, keys.encode())
        time.sleep(pause)

    def close(self) -> int:
        try:
            os.write(self.master, b"q")
            code = self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            code = -9
        self.running = False
        time.sleep(0.1)
        os.close(self.master)
        return code


def pool_match(pool, image: np.ndarray) -> int:
    """The pool index whose pixels are exactly ``image`` (-1: none)."""
    images = pool.images
    if image.shape != images.shape[1:]:
        return -1
    hits = np.flatnonzero((images == image).reshape(len(images), -1).all(axis=1))
    return int(hits[0]) if len(hits) else -1


@pytest.mark.slow
def test_kitty_in_a_pty_sends_the_pool_image_and_placeholders_that_show_it(sample_workspace):
    ws_path = sample_workspace.path
    term = Pty(["label", str(ws_path), "--mode", "browse", "--graphics", "kitty"])
    try:
        term.wait_for("Undo", timeout=60)
        time.sleep(1.0)
        first = kitty_images(term.text())
        term.send(" ")  # skip: the next image, under the same id, and not a cell rewritten
        term.wait_for("(?s)" + "\x1b_Ga=T.*" * (len(first) + 1))
        before_cells = sum(len(c) for c in placements(term.text()).values())
        time.sleep(0.5)
        text = term.text()
    finally:
        assert term.close() == 0
    images = kitty_images(text)
    assert len(images) == len(first) + 1
    pool = Workspace(ws_path).pool
    shown = []
    for _keys, data in images[-2:]:
        index = pool_match(pool, decode_png(data))
        assert index >= 0, "the decoded payload is not a pool image"
        shown.append(index)
    assert shown[0] != shown[1]  # the skip moved on
    keys = images[-1][0]
    image_id, cols, rows = int(keys["i"]), int(keys["c"]), int(keys["r"])
    cells = placements(text)
    assert cells[image_id] == {(r, c) for r in range(rows) for c in range(cols)}  # the whole placement
    assert sum(len(c) for c in placements(text).values()) == before_cells  # the skip wrote no cell
    assert cols / (2 * rows) == pytest.approx(pool.image_shape[1] / pool.image_shape[0], rel=0.1)


@pytest.mark.slow
def test_iterm2_in_a_pty_writes_the_pool_image_at_the_widgets_cells(sample_workspace):
    ws_path = sample_workspace.path
    term = Pty(["label", str(ws_path), "--mode", "browse", "--graphics", "iterm2"])
    try:
        term.wait_for("Undo", timeout=60)
        time.sleep(1.0)
        term.send("3")  # label and move on
        time.sleep(0.5)
        text = term.text()
    finally:
        assert term.close() == 0
    shots = ITERM.findall(text)
    assert len(shots) >= 2
    pool = Workspace(ws_path).pool
    y, x, args, data = shots[-1]
    fields = dict(kv.split("=", 1) for kv in args.split(";"))
    png = base64.b64decode(data)
    assert int(fields["size"]) == len(png)
    assert pool_match(pool, decode_png(png)) >= 0
    assert int(y) >= 1 and int(y) + int(fields["height"]) <= 24 and int(x) + int(fields["width"]) <= 81
    assert LabelStore(ws_path / "labels.sqlite").counts().get(("human", 3)) == 1


KITTY_TERMINAL = {b"\x1b[c": b"\x1b_Gi=31;OK\x1b\\\x1bP>|kitty(0.35.2)\x1b\\\x1b[?62;22c"}
PLAIN_TERMINAL = {b"\x1b[c": b"\x1b[?62;22c"}


@pytest.mark.slow
@pytest.mark.parametrize("answers, protocol", [(KITTY_TERMINAL, "kitty"), (PLAIN_TERMINAL, "blocks")])
def test_auto_asks_the_terminal_over_a_slow_link_and_leaves_no_stray_input(sample_workspace, answers, protocol):
    """Replies 1 s late (a 1 s round trip): the app waits for them, picks the protocol, and none of
    their bytes reach the app as keys (their digits would be labels)."""
    ws_path = sample_workspace.path
    term = Pty(["label", str(ws_path), "--mode", "browse"], answers=answers, delay=1.0)
    try:
        term.wait_for("Undo", timeout=60)
        time.sleep(1.0)
        assert LabelStore(ws_path / "labels.sqlite").counts() == {}
        term.send("5")
        text = term.text()
    finally:
        assert term.close() == 0
    assert ("\x1b_Ga=T" in text) == (protocol == "kitty")
    assert ("\u2580" in text) == (protocol == "blocks")
    assert LabelStore(ws_path / "labels.sqlite").counts() == {("human", 5): 1}


@pytest.mark.slow
def test_auto_gives_up_on_a_silent_terminal_and_draws_half_blocks(sample_workspace):
    term = Pty(["label", str(sample_workspace.path), "--mode", "browse"], env={"TUILABEL_PROBE_TIMEOUT": "1"})
    try:
        term.wait_for("Undo", timeout=60)
        assert "\u2580" in term.text() and "\x1b_Ga=T" not in term.text()
    finally:
        assert term.close() == 0


@pytest.mark.slow
@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tmux_passes_kitty_images_through_when_allowed_and_falls_back_otherwise(sample_workspace, tmp_path):
    from .test_e2e_tmux import Tmux

    ws_path = sample_workspace.path
    log = tmp_path / "pane.out"
    exe = Path(sys.executable).with_name("tuilabel")
    command = f"sleep 1; {exe} label {ws_path} --mode browse --graphics kitty"
    tmux = Tmux("tuilabel-graphics", command, env={"COLORTERM": "truecolor"})
    try:
        subprocess.run(["tmux", "set-option", "-p", "-t", "tuilabel-graphics", "allow-passthrough", "on"], check=True)
        subprocess.run(["tmux", "pipe-pane", "-t", "tuilabel-graphics", f"cat > {log}"], check=True)
        tmux.wait_for("Undo")
        time.sleep(1.0)
        out = log.read_bytes().decode("utf-8", "replace")
        screen = tmux.capture()
    finally:
        tmux.close()
    assert "\x1bPtmux;\x1b\x1b_Ga=T,U=1" in out  # wrapped for the outer terminal
    assert PLACEHOLDER in screen and "\u2580" not in screen  # placeholder cells, no half blocks

    tmux = Tmux("tuilabel-graphics", f"{exe} label {ws_path} --mode browse --graphics kitty")
    try:
        tmux.wait_for("Undo")
        screen = tmux.capture()
    finally:
        tmux.close()
    assert "\u2580" in screen and PLACEHOLDER not in screen


# -- inside the app (Pilot) and the workspace setting -----------------------------------------------


def test_gallery_tiles_send_full_size_images_each_under_its_own_id(sample_workspace, monkeypatch):
    """At 80x24 half blocks draw half-size thumbnails; under kitty each tile gets the pool image
    itself, scaled by the terminal into the tile's cells."""
    import asyncio

    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.batch import BatchScreen
    from tuilabel.tui.widgets import GraphicsOut

    written: list[str] = []
    monkeypatch.setattr(GraphicsOut, "write", lambda self, data: written.append(data))

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch", graphics=Choice("kitty"))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.5)
            screen = app.screen
            assert isinstance(screen, BatchScreen) and screen.half and len(screen.tiles) >= 4
            page = [item.image for item in screen.session.page[:len(screen.tiles)]]
            cells = [(t.view.size.width, t.view.size.height, t.view._image_id) for t in screen.tiles]
            await pilot.press("q")
        return page, cells

    page, cells = asyncio.run(go())
    sent = {int(keys["i"]): (keys, decode_png(data)) for keys, data in kitty_images("".join(written))}
    assert len({image_id for _, _, image_id in cells}) == len(cells)
    for image, (width, height, image_id) in zip(page, cells):
        keys, pixels = sent[image_id]
        assert np.array_equal(pixels, image) and pixels.shape == (28, 28)
        assert (int(keys["c"]), int(keys["r"])) == (width, height)


def test_graphics_setting_in_tuilabel_toml(sample_workspace, capsys):
    from tuilabel.cli import _graphics_setting
    from tuilabel.errors import TuilabelError

    config = sample_workspace.path / "tuilabel.toml"
    assert _graphics_setting(sample_workspace, None) == "auto"
    config.write_text(config.read_text() + '\n[display]\ngraphics = "iterm2"\n')
    ws = Workspace(sample_workspace.path)
    assert _graphics_setting(ws, None) == "iterm2" and _graphics_setting(ws, "blocks") == "blocks"
    config.write_text(config.read_text().replace('"iterm2"', '"sixels"'))
    with pytest.raises(TuilabelError, match="graphics"):
        _graphics_setting(Workspace(sample_workspace.path), None)


# -- sixel ------------------------------------------------------------------------------------------


def test_sixel_draws_the_image_with_a_palette_of_its_own_colours():
    from tuilabel.graphics import sixel_image

    digit = np.load(Path(__file__).resolve().parent.parent / "sample_data" / "mnist-pool.npz")["images"][0]
    back = decode_sixel(sixel_image(digit))
    assert back.shape == (28, 28, 3) and np.abs(back[..., 0].astype(int) - digit).max() <= 1  # percent steps
    three = np.zeros((13, 7, 3), np.uint8)
    three[:5] = (200, 30, 30)
    three[5:9, :3] = (10, 250, 90)
    seq = sixel_image(three)
    assert len(re.findall(r"#\d+;2;", seq)) == 3  # the palette is the image's colours, not a fixed one
    assert np.abs(decode_sixel(seq).astype(int) - three).max() <= 2
    noise = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    seq = sixel_image(noise)
    assert len(re.findall(r"#\d+;2;", seq)) <= 256 and np.abs(decode_sixel(seq).astype(int) - noise).mean() < 12
    assert "!" in sixel_image(np.zeros((6, 40), np.uint8))  # runs are counted, not repeated


def test_sixel_is_chosen_by_its_device_attribute_and_knows_the_cell_size():
    from tuilabel.graphics import DEFAULT_CELL

    replies = parse_replies(b"\x1b[6;18;9t\x1b[?63;4;22c")
    assert replies.sixel and replies.cell == (9, 18)
    assert parse_replies(b"\x1b[?63;22c").cell is None
    env = {"TERM": "xterm-256color"}
    assert choose("sixel", "truecolor", env) == Choice("sixel", reason="asked for", cell=DEFAULT_CELL)
    no_server = {**env, "TMUX": "/nonexistent/tmux-socket,1,0", "TMUX_PANE": "%0"}
    assert "does not draw sixel" in choose("sixel", "truecolor", no_server).reason


SIXEL_TERMINAL = {b"\x1b[c": b"\x1b[6;20;10t\x1b[?63;4;22c"}  # xterm -ti vt340's answers


@pytest.mark.slow
def test_auto_picks_sixel_where_the_terminal_has_it_and_writes_the_pool_image_at_the_cells(sample_workspace):
    from tuilabel.graphics import sixel_fit

    ws_path = sample_workspace.path
    term = Pty(["label", str(ws_path), "--mode", "browse"], answers=SIXEL_TERMINAL)
    try:
        term.wait_for("Undo", timeout=60)
        time.sleep(1.0)
        text = term.text()
    finally:
        assert term.close() == 0
    shots = SIXEL.findall(text)
    assert shots and "\u2580" not in text  # pixels, not half blocks
    y, x, seq = shots[-1]
    shown = decode_sixel(seq)
    item = re.findall(r"item (\d+)", text)[-1]
    pool = Workspace(ws_path).pool
    expected = sixel_fit(pool.images[pool.index_of(item)], shown.shape[1], shown.shape[0])
    assert shown.shape[:2] == expected.shape[:2] and np.abs(shown[..., 0].astype(int) - expected).max() <= 1
    assert shown.shape[1] % 10 == 0 or shown.shape[0] % 20 == 0  # the cells' pixels, from the 10x20 cell
    assert int(y) >= 1 and int(y) + shown.shape[0] // 20 <= 24 and int(x) + shown.shape[1] // 10 <= 81


def test_inside_a_tmux_that_draws_sixel_auto_and_sixel_pick_it_with_the_clients_cell_size(monkeypatch):
    """tmux 3.4 built with sixel draws it itself: `#{client_termfeatures}` lists it (this machine's
    tmux is 3.3, so tmux's answers are played here)."""
    import tuilabel.graphics as graphics

    answers = {"display-message": "256,RGB,clipboard,sixel,title|9|18", "show-options": "off"}

    def fake_run(args, **kwargs):
        return subprocess.CompletedProcess(args, 0, stdout=next(v for k, v in answers.items() if k in args), stderr="")

    monkeypatch.setattr(graphics.subprocess, "run", fake_run)
    env = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0", "TMUX_PANE": "%0"}
    assert graphics.choose("auto", "256", env) == Choice("sixel", reason="tmux draws sixel", cell=(9, 18))
    assert graphics.choose("sixel", "256", env).cell == (9, 18)
    answers["display-message"] = "256,RGB,clipboard,title||"  # a tmux without it: half blocks, said why
    assert graphics.choose("auto", "256", env).protocol == "blocks"
    assert "does not draw sixel" in graphics.choose("sixel", "256", env).reason
