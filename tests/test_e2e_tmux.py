"""The real `tuilabel` in tmux: keys typed with send-keys, the screen read with capture-pane."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tuilabel.store import LabelStore
from tuilabel.workspace import Workspace

from .screen import half_block_pixels, screen_png, wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    def __init__(self, name: str, command: str, width: int = 80, height: int = 24, env: dict | None = None):
        self.name = name
        # the pane's size is the app's only if COLUMNS and LINES are unset: a tmux server keeps the
        # environment of whichever process started it (one with COLUMNS=80 LINES=24 made every later
        # pane draw at 80x24 in a 60x18 window, scrolled by the rows that did not fit)
        self.env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in ("COLUMNS", "LINES")}
        command = f"unset COLUMNS LINES; {command}"
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)
        for _attempt in range(3):  # a tmux server whose last session just ended exits under a new client
            started = subprocess.run(
                ["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                 f"{command}; echo EXIT=$?; sleep 60"],
                check=False, env=self.env, capture_output=True, text=True,
            )
            if started.returncode == 0:
                break
            time.sleep(0.5)
        assert started.returncode == 0, started.stderr

    def keys(self, *keys: str, pause: float = 0.4) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(pause)

    def capture(self, colours: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-t", self.name] + (["-e"] if colours else [])
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        return wait_for(self.capture, pattern, timeout)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)


def _app_pids(marker: str) -> list[str]:
    """The running `tuilabel label` whose command line holds ``marker`` (not tmux's shell around it)."""
    return subprocess.run(["pgrep", "-f", rf"^\S*python\S* .*tuilabel label .*{marker}"], check=False,
                          capture_output=True, text=True).stdout.split()


def _postgres_workspace(sample_arrays, tmp_path: Path):
    """A server of the test's own and a workspace of the sample whose labels live there."""
    from tuilabel.cli import main

    from .pg import own_server

    server = own_server(tmp_path / "pg")
    ws_path = tmp_path / "ws"
    assert main(["init", str(ws_path), "--data", str(sample_arrays[0]), "--store", server.url,
                 "--backbone", "none"]) == 0
    return server, ws_path


@pytest.mark.slow
def test_label_browse_undo_quit_in_tmux(sample_workspace, tmp_path):
    ws_path = sample_workspace.path
    pool = sample_workspace.pool
    sample_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    command = f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode browse --colors 256"
    tmux = Tmux(f"tuilabel-test-{os.getpid()}", command, env={"TERM": "xterm-256color"})
    try:
        labelled = []
        for step in range(3):
            item = tmux.wait_for(r"item (\d+)").group(1)
            if labelled:
                assert item != labelled[-1][0], "the next image did not appear"
            # what the terminal shows is this pool image (through the 256-colour grey ramp)
            screen = tmux.capture(colours=True)
            pixels = half_block_pixels(screen)
            expected = pool.images[pool.index_of(item)]
            assert pixels.shape == expected.shape
            # Textual re-downgrades 256-colour greys with Rich's rounding onto the 24-step ramp, so a
            # shown grey can be up to ~18 levels off; the picture stays monotone and readable.
            assert np.abs(pixels.astype(int) - expected).max() <= 20
            assert np.corrcoef(pixels.ravel(), expected.ravel())[0, 1] > 0.99
            if step == 0:
                screen_png(screen, tmp_path / "browse.png")
            label = int(pool.truth[pool.index_of(item)])
            labelled.append((item, label))
            tmux.keys(str(label))
        tmux.wait_for(r"labelled here: 3")
        tmux.keys("z")  # undo the third
        tmux.wait_for(rf"undone: back to {labelled[-1][0]}")
        assert re.search(rf"item {labelled[-1][0]}\b", tmux.capture())
        tmux.keys("q")
        tmux.wait_for(r"EXIT=0")
    finally:
        tmux.close()
    store = LabelStore(ws_path / "labels.sqlite")
    assert store.current() == {item: (label, 1.0) for item, label in labelled[:2]}
    assert Workspace(ws_path).pool is not None  # the workspace reopens clean


@pytest.mark.slow
def test_remapped_keys_label_and_undo_in_tmux(sample_workspace):
    """``[keys]`` in tuilabel.toml: the person's keys label and undo, the old ones do nothing, and
    the footer shows the new ones."""
    ws_path = sample_workspace.path
    config = ws_path / "tuilabel.toml"
    config.write_text(config.read_text() + '\n[keys]\nundo = "u"\nclass-3 = "j"\n')
    sample_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    tmux = Tmux(f"tuilabel-keys-{os.getpid()}", f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode browse",
                env={"TERM": "xterm-256color"})
    try:
        first = tmux.wait_for(r"item (\d+)").group(1)
        assert re.search(r"u Undo", tmux.capture())
        tmux.keys("j")
        second = tmux.wait_for(r"labelled here: 1[\s\S]*").string
        second_item = re.search(r"item (\d+)", second).group(1)
        assert second_item != first
        tmux.keys("3", "z")  # no longer keys of this screen: nothing happens
        time.sleep(0.5)
        assert re.search(rf"item {second_item}\b", tmux.capture())
        tmux.keys("j", "u")  # a label and its undo
        tmux.wait_for(r"undone: back to \d+")
        tmux.keys("q")
        tmux.wait_for(r"EXIT=0")
    finally:
        tmux.close()
    assert LabelStore(ws_path / "labels.sqlite").current() == {first: (3, 1.0)}


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["HUP", "TERM"])
def test_a_dropped_link_or_a_shutdown_gives_the_leases_back_at_once_in_tmux(sample_workspace, signame):
    """SIGHUP (the SSH link dropped) and SIGTERM (a shutdown) close the app as q does: the labels
    kept, no lease left for the other annotators to wait out, no traceback."""
    ws_path = sample_workspace.path
    sample_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    marker = f"sig{signame}{os.getpid()}"
    command = f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode browse --annotator {marker}"
    tmux = Tmux(f"tuilabel-sig-{os.getpid()}", command)
    try:
        tmux.wait_for(r"item \d+")
        tmux.keys("3", "4")
        tmux.wait_for(r"labelled here: 2")
        store = LabelStore(ws_path / "labels.sqlite")
        assert store.leases(), "browse leases the items it shows"
        pid = _app_pids(marker)
        assert pid
        for p in pid:
            subprocess.run(["kill", f"-{signame}", p], check=False)
        tmux.wait_for(rf"EXIT={128 + getattr(__import__('signal'), 'SIG' + signame)}", timeout=10)
        assert "Traceback" not in tmux.capture()
    finally:
        tmux.close()
    store = LabelStore(ws_path / "labels.sqlite")
    assert store.leases() == [] and len(store.current()) == 2


@pytest.mark.slow
def test_a_postgresql_restart_mid_session_costs_no_label_in_tmux(sample_arrays, tmp_path):
    """Browse against a real PostgreSQL; the server stopped as a crash stops it, then started again:
    every key typed before, during and after the outage is in the store once, in order, with no
    restart of tuilabel."""
    server, ws_path = _postgres_workspace(sample_arrays, tmp_path)
    exe = Path(sys.executable).with_name("tuilabel")
    tmux = Tmux(f"tuilabel-pg-{os.getpid()}", f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode browse")
    typed: list[str] = []

    def label(n: int, key: str) -> None:
        for _ in range(n):
            typed.append(tmux.wait_for(r"item (\S+)\s").group(1))
            tmux.keys(key)
            tmux.wait_for(rf"labelled here: {len(typed)}\b")

    try:
        label(3, "1")
        server.stop()
        label(3, "2")  # acknowledged: kept in the workspace's journal
        assert re.search(r"store unreachable.*3 saved here", tmux.capture())
        server.start()
        tmux.wait_for(r"^[^\n]*tuilabel — ws\s", timeout=40)  # written by the retry: the header is itself again
        assert not (ws_path / "journal.jsonl").exists()
        label(2, "3")
        tmux.keys("q")
        tmux.wait_for(r"EXIT=0")
        store = LabelStore(server.url)
        events = [(e.item_id, e.label) for e in store.events(samples=False)]
        store.close()
    finally:
        tmux.close()
        server.close()
    assert [item for item, _ in events] == typed  # once each, in the order typed
    assert [label for _, label in events] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert not (ws_path / "journal.jsonl").exists()


@pytest.mark.slow
def test_killed_during_an_outage_the_next_start_writes_the_waiting_labels_in_tmux(sample_arrays, tmp_path):
    """kill -9 while labels wait in the journal for a stopped server: the next command that opens the
    workspace (here `tuilabel status`) writes them, once each."""
    from tuilabel.cli import main

    server, ws_path = _postgres_workspace(sample_arrays, tmp_path)
    exe = Path(sys.executable).with_name("tuilabel")
    marker = f"kill9{os.getpid()}"
    tmux = Tmux(f"tuilabel-kill-{os.getpid()}",
                f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode browse --annotator {marker}")
    try:
        tmux.wait_for(r"item \S+")
        tmux.keys("1")
        tmux.wait_for(r"labelled here: 1\b")
        server.stop()
        typed = []
        for n in (2, 3):
            typed.append(tmux.wait_for(r"item (\S+)\s").group(1))
            tmux.keys(str(n))
            tmux.wait_for(rf"labelled here: {n}\b")
        tmux.wait_for(r"2 saved here")
        pid = _app_pids(marker)
        assert pid
        subprocess.run(["kill", "-9", *pid], check=False)
        tmux.wait_for(r"EXIT=137")
        assert len((ws_path / "journal.jsonl").read_text().splitlines()) == 2
        server.start()
        assert main(["status", str(ws_path)]) == 0  # opening the workspace writes what waits
        store = LabelStore(server.url)
        current = store.current()
        events = [e.item_id for e in store.events(samples=False)]
        store.close()
    finally:
        tmux.close()
        server.close()
    assert all(current[item][0] == n for item, n in zip(typed, (2, 3))) and len(events) == 3 == len(set(events))
    assert not (ws_path / "journal.jsonl").exists()


@pytest.mark.slow
def test_clusters_label_split_train_then_eval_in_tmux(sample_workspace, vae_file, encoder_file, tmp_path):
    """The shared tiny VAE and encoder in place (as `tuilabel train --model vae` leaves them; the
    models' training is not under test), the app with the same tiny settings."""
    import shutil

    from .conftest import CLUSTERS_TINY

    shutil.copy(vae_file, sample_workspace.model_path("vae"))
    shutil.copy(encoder_file, sample_workspace.model_path("clusters-space"))
    ws_path = sample_workspace.path
    sample_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    tuilabel = str(exe if exe.exists() else "tuilabel")
    small = " ".join(f"--set {k}={v}" for k, v in {**CLUSTERS_TINY, "cnn_epochs": 1}.items())
    tmux = Tmux(f"tuilabel-clusters-{os.getpid()}", f"{tuilabel} label {ws_path} --mode clusters --colors 256 {small}",
                width=90, height=28, env={"TERM": "xterm-256color"})
    try:
        first = tmux.wait_for(r"cluster (\d+)\s+(\d+) images", timeout=60)
        screen_png(tmux.capture(colours=True), tmp_path / "clusters.png")
        assert re.search(r"nearest of its \d+ members", tmux.capture())
        tmux.keys("3")
        # the image shown is the member nearest the centre: the label spreads to the others
        tmux.wait_for(rf"cluster {first.group(1)} -> 3 \(high\), spread to {int(first.group(2)) - 1} images")
        second = tmux.wait_for(r"cluster (\d+)\s+\d+ images").group(1)
        tmux.keys("x")
        tmux.wait_for(rf"cluster {second}: no class; split into 3")
        tmux.wait_for(rf"cluster {second}\.1\b")
        tmux.keys("t")
        # the message is replaced once the next epoch's centres are ready; the accuracy panel keeps the epoch
        tmux.wait_for(r"epoch 1: test accuracy [\d.]+%|epoch 1: [\d.]+% with \d+ labels", timeout=90)
        tmux.wait_for(rf"epoch 2, k={CLUSTERS_TINY['fine_k']}")
        tmux.keys("q")
        tmux.wait_for(r"EXIT=0")
    finally:
        tmux.close()
    store = LabelStore(ws_path / "labels.sqlite")
    human = list(store.events(("human",)))
    assert [ev.label for ev in human] == [3, None]
    assert human[0].item_id is not None and human[1].item_id is None  # a pool image; a no-class decision
    assert len(store.current(("propagated",))) == int(first.group(2)) - 1
    out = subprocess.run([tuilabel, "eval", str(ws_path)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"vae \(clusters mode, \d+ epochs\): test accuracy 0\.\d+", out)
    assert re.search(r"classifier's classes\s+0\.\d+\s+0\.\d+\s+-?0\.\d+", out)


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"NO_COLOR": "1", "TERM": "xterm-256color"}, {"TERM": "dumb"}])
def test_no_colour_terminals_draw_shades_in_tmux(sample_workspace, env):
    ws_path = sample_workspace.path
    sample_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    prefix = " ".join(f"{k}={v}" for k, v in env.items())  # in the pane: tmux sets its own TERM there
    tmux = Tmux(f"tuilabel-mono-{os.getpid()}",
                f"env {prefix} {exe if exe.exists() else 'tuilabel'} label {ws_path} --mode browse")
    try:
        item = tmux.wait_for(r"item (\d+)").group(1)
        assert set(tmux.capture()) & set("░▒▓"), tmux.capture()  # grey levels as shade characters
        tmux.keys("4")
        tmux.wait_for(rf"{item} -> 4")
        tmux.keys("q")
        tmux.wait_for(r"EXIT=0")
    finally:
        tmux.close()
    assert LabelStore(ws_path / "labels.sqlite").current() == {item: (4, 1.0)}


@pytest.mark.slow
@pytest.mark.parametrize("size", [(80, 24), (60, 18)])
def test_every_mode_shows_its_picture_and_footer_at_80x24_and_60x18_in_tmux(stream_workspace, vae_file, encoder_file,
                                                                         size):
    """Every mode at the comfortable and the smallest size: its picture (half blocks), the ▶ of a
    gallery, and the footer's Help and Quit. TUILABEL_CAPTURES=folder keeps the captures."""
    import shutil as sh

    ws_path = stream_workspace.path
    sh.copy(vae_file, stream_workspace.model_path("vae"))
    sh.copy(encoder_file, stream_workspace.model_path("clusters-space"))
    pool = stream_workspace.pool
    store = stream_workspace.store
    if len(store.current()) < 40:  # review needs labels to judge
        session = store.start_session("browse", "seed")
        store.add_many(session, [(str(pool.ids[i]), int(pool.truth[i]), 1.0) for i in range(40)])
    stream_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    keep = os.environ.get("TUILABEL_CAPTURES")
    width, height = size
    modes = [("browse", r"item \S+"), ("batch", r"▶"), ("clusters", r"cluster \d+"),
             ("stream", r"fps \(base 6\.0\)"), ("review", r"▶")]
    for mode, ready in modes:
        sets = {"clusters": "--set k=6 --set epoch_samples=3000",
                "review": "--set folds=2 --set epochs=2"}.get(mode, "")
        tmux = Tmux(f"tuilabel-fit-{mode}-{width}-{os.getpid()}",
                    # a stale COLUMNS/LINES (as a tmux server started elsewhere hands on) gives way to the pane
                    f"COLUMNS=80 LINES=24 {exe if exe.exists() else 'tuilabel'} label {ws_path} --mode {mode} {sets} "
                    "--colors 256",
                    width=width, height=height, env={"TERM": "xterm-256color"})
        try:
            tmux.wait_for(ready, timeout=90)
            # a capture can fall between two writes of one frame: the footer on the last row settles it
            screen = tmux.wait_for(rf"^(?:[^\n]*\n){{{height - 1}}}[^\n]*\? Help[^\n]*q Quit").string
            lines = screen.rstrip("\n").split("\n")
            assert len(lines) == height and "? Help" in lines[-1] and "q Quit" in lines[-1], lines[-1]
            assert sum(line.count("▀") + line.count("█") for line in lines) > 50, screen  # the picture
            if mode in ("batch", "review"):
                assert "▶" in screen  # the focused tile's caption
            if mode == "stream" and size == (80, 24):
                assert re.search(r"9 9\s+\d+", screen)  # the last class row of the side column shows
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                (Path(keep) / f"{mode}-{width}x{height}.txt").write_text(screen)
            tmux.keys("q")
            tmux.wait_for(r"EXIT=0", timeout=60)
        finally:
            tmux.close()


@pytest.mark.slow
def test_quitting_while_a_model_trains_waits_and_ctrl_c_leaves_it_in_tmux(sample_workspace):
    ws_path = sample_workspace.path
    sample_workspace.close()
    exe = Path(sys.executable).with_name("tuilabel")
    command = f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode clusters"
    tmux = Tmux(f"tuilabel-quit-{os.getpid()}", command, env={"TERM": "xterm-256color"})
    try:
        tmux.wait_for(r"VAE without labels: epoch 1/2")  # no VAE in the workspace: it trains one first
        tmux.keys("q")
        tmux.wait_for(r"letting the model update finish so it is kept; Ctrl\+C leaves it")
        tmux.keys("C-c")
        tmux.wait_for(r"left the update unfinished")
        tmux.wait_for(r"EXIT=130")
        assert "Abort" not in tmux.capture() and "Traceback" not in tmux.capture()
    finally:
        tmux.close()


@pytest.mark.slow
def test_review_brings_back_deliberate_mistakes_in_tmux(sample_workspace, tmp_path):
    """Labels with deliberate mistakes come back in the review gallery; Enter keeps, a number key
    corrects, and `export` shows the corrected label."""
    ws, pool = sample_workspace, sample_workspace.pool
    rng = np.random.default_rng(3)
    items = rng.choice(len(pool), 120, replace=False)
    wrong = set(items[:15].tolist())  # the first 15 get a wrong label on purpose
    given = {int(i): int((pool.truth[i] + (1 if int(i) in wrong else 0)) % 10) for i in items}
    session = ws.store.start_session("browse", "alice")
    ws.store.add_many(session, [(str(pool.ids[i]), g, 1.0) for i, g in given.items()])
    ws_path = ws.path
    ws.close()
    exe = Path(sys.executable).with_name("tuilabel")
    command = (f"{exe if exe.exists() else 'tuilabel'} label {ws_path} --mode review --colors none "
               "--set folds=2 --set epochs=5 --set augment=geometric")  # augment=auto's measuring is not under test
    tmux = Tmux(f"tuilabel-review-{os.getpid()}", command, width=100, height=32)
    try:
        tmux.wait_for(r"review round 1: 120 labels judged", timeout=240)
        screen = tmux.capture()
        assert "queue" in screen and "stored" in screen
        ws = Workspace(ws_path)
        page = []  # what the gallery shows, left to right: "▶ 3→5 92%" or "3 97%"
        for caption in re.findall(r"(?:▶ )?(\d)(?:→(\d) \d+%| \d+%)", screen):
            page.append(int(caption[0]))
        assert page, screen
        tmux.keys("Enter")  # keep the first
        tmux.wait_for(r"reviewed 1 ")
        shown = re.search(r"▶ (\d)", tmux.capture())
        assert shown is not None
        stored = int(shown.group(1))
        tmux.keys(str((stored + 1) % 10))  # correct the second
        tmux.wait_for(r"reviewed 2 \(corrected 1")
        tmux.keys("q")
        tmux.wait_for(r"EXIT=0", timeout=60)
        review = [ev for ev in ws.store.events(("human",)) if ev.mode == "review"]
        assert len(review) == 2 and review[0].label == given[pool.index_of(review[0].item_id)]
        corrected = review[1]
        assert corrected.label == (stored + 1) % 10 != given[pool.index_of(corrected.item_id)]
        # the queue put the deliberate mistakes first: both shown items were among the 15
        flagged = [pool.index_of(ev.item_id) in wrong for ev in review]
        assert any(flagged), (review, wrong)
        out = tmp_path / "labels.csv"
        tuilabel = exe if exe.exists() else "tuilabel"
        subprocess.run([str(tuilabel), "export", str(ws_path), "--format", "csv", "--out", str(out)],
                       check=True, capture_output=True)
        rows = {line.split(",")[0]: line.split(",") for line in out.read_text().splitlines()[1:]}
        assert rows[corrected.item_id][2] == str(corrected.label)
        assert len(rows) == 120
        ws.close()
    finally:
        tmux.close()
