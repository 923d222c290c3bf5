"""The mode contract: registry, declared settings, the update cycle, model files and resume."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.errors import TuilabelError
from tuilabel.models.cnn import CNNClassifier
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.batch import BatchSession, BatchSettings
from tuilabel.sessions.browse import BrowseSettings
from tuilabel.sessions.clusters import ClustersSession, ClustersSettings
from tuilabel.sessions.registry import MODES, mode, models
from tuilabel.sessions.settings import GROUPS
from tuilabel.sessions.stream import StreamSession, StreamSettings
from tuilabel.workspace import Workspace

from .conftest import BATCH_TINY, CLUSTERS_TINY, ROOT, make_pool

# -- the registry -----------------------------------------------------------------------------------


def test_every_built_mode_has_all_its_parts():
    built = [m for m in MODES if m.built]
    assert [m.name for m in built] == ["browse", "stream", "batch", "clusters", "review"]
    assert len({m.key for m in MODES}) == len(MODES)
    for spec in built:
        session = spec.session_class()
        assert session.mode == spec.name and session.settings_class is spec.settings_class()
        assert spec.settings_class().mode == spec.name
        assert spec.screen_class().session_class is session
        assert spec.labeler_class() is not None
    assert set(models()) == {"rbm", "rbm-labels", "cnn", "vae", "clusters-cnn"}
    with pytest.raises(TuilabelError, match="no mode 'nosuch'; modes: browse, stream, batch, clusters, review"):
        mode("nosuch")


def test_report_and_review_find_a_modes_saved_state_through_its_spec(sample_workspace, monkeypatch):
    """A mode added to the registry with ``curve`` and ``measures_augment`` reaches `report`'s curves
    and review's borrowed augmentation with no other file touched."""
    import dataclasses
    import json

    from tuilabel import report
    from tuilabel.sessions import registry
    from tuilabel.sessions.base import measured_augment

    ws = sample_workspace
    state = {"curve": [{"labels": 10, "seconds": 5.0, "accuracy": 0.5}, {"labels": 20, "seconds": 9.0,
                                                                         "accuracy": 0.7}],
             "augment": "shift", "augment_checked": 7, "items": len(ws.pool)}
    ws.model_path("extra-state").write_text(json.dumps(state))
    assert "extra" not in report.gather(ws, confusion=False).curves and measured_augment(ws) is None
    extra = dataclasses.replace(mode("batch"), name="extra", key="e", curve=True, measures_augment=True)
    monkeypatch.setattr(registry, "MODES", (*registry.MODES, extra))
    assert report.gather(ws, confusion=False).curves["extra"] == [(10, 5.0, 0.5), (20, 9.0, 0.7)]
    assert measured_augment(ws) == "shift"


# -- settings ---------------------------------------------------------------------------------------


def test_settings_are_checked_where_they_are_made():
    s = BatchSettings.from_options(["strategy=margin", "stream_frames=yes", "augmentations=4", "cv_folds=5"])
    assert (s.strategy, s.stream_frames, s.augmentations, s.cv_folds) == ("margin", True, 4, 5)
    assert BatchSettings.from_options({"semi": "off"}).semi is False
    assert s.changed() == {"strategy": "margin", "stream_frames": True, "augmentations": 4, "cv_folds": 5}
    bad = {
        "strategy=nosuch": "strategy='nosuch' is not one of: auto, random, entropy",
        "semi=ture": "semi='ture' is not a yes/no value",
        "augmentations=0": "augmentations=0 must be at least 1",
        "epochs=2.5": "epochs='2.5' is not an integer",
        "nosuch=1": "unknown setting 'nosuch' for the batch mode",
        "strategy": "--set 'strategy' must be KEY=VALUE",
    }
    for option, message in bad.items():
        with pytest.raises(TuilabelError, match=re.escape(message)):
            BatchSettings.from_options([option])
    with pytest.raises(TuilabelError, match=r"fps=100\.0 must be at most 60"):
        StreamSettings(fps=100)  # from Python: the same checks
    with pytest.raises(TuilabelError, match="preset='seed001' is not one of: none, seed003"):
        ClustersSettings(preset="seed001")
    with pytest.raises(TuilabelError, match="learn=1 must be true or false"):
        BrowseSettings(learn=1)  # type: ignore[arg-type]
    rows = BatchSettings.rows()  # grouped: what a person chooses, the model's hyper-parameters, the team's
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), key=GROUPS.index) and rows[-1][1] == "overlap"
    assert rows[0][1] == "strategy" and rows[0][3] == "'auto'"
    lines = BatchSettings.describe(60)
    assert lines[0] == "While labeling:" and "Model (training hyper-parameters):" in lines
    assert max(map(len, lines)) <= 60 and lines[1].startswith("  strategy")


def test_cli_settings_errors_are_one_line_and_exit_2(sample_workspace, capsys):
    ws = str(sample_workspace.path)
    calls = [
        ["label", ws, "--mode", "batch", "--set", "strategy=nosuch"],
        ["label", ws, "--mode", "stream", "--set", "chain_length=0"],
        ["simulate", ws, "--mode", "browse", "--labels", "5", "--out", "x.json", "--set", "x=1"],
        ["simulate", ws, "--mode", "batch", "--labels", "5", "--out", "x.json", "--set", "semi=ture"],
        ["label", ws, "--mode", "nosuch"],
        ["label", ws, "--mode", "review", "--set", "folds=1"],
        ["train", ws, "--model", "cnn", "--set", "arch=huge"],
    ]
    for argv in calls:
        assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(calls) and all(line.startswith("tuilabel: error: ") for line in err)
    assert "chain_length=0 must be at least 1" in err[1] and "folds=1 must be at least 2" in err[5]
    assert not (sample_workspace.path / "runs" / "x.json").exists()
    assert main(["label", ws, "--mode", "batch", "--help-settings"]) == 0
    out = capsys.readouterr().out
    assert "batch mode settings" in out and "strategy" in out and "(auto | random | entropy" in out


def test_label_passes_settings_to_the_mode(sample_workspace):
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.batch import BatchScreen

    async def go():
        settings = mode("batch").make_settings(["strategy=margin", "start=12"])
        app = TuilabelApp(sample_workspace, mode="batch", settings=settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, BatchScreen)
            session = app.screen.session
            assert session.settings.strategy == "margin" and session.next_round_at == 12

    asyncio.run(go())


# -- the update cycle, from a script ----------------------------------------------------------------


@pytest.mark.slow
def test_a_script_reaches_a_trained_batch_model(sample_workspace):
    """The README's example: actions in, `update_if_due` after each, a trained model out."""
    truth = sample_workspace.pool.truth
    session = BatchSession(sample_workspace, BatchSettings(**BATCH_TINY))
    updates = 0
    while session.spent < 20:
        session.handle(Action("label", int(truth[session.shown_item()])))
        updates += session.update_if_due()
    assert updates == 2 and session.model is not None and session.round == 2
    assert [p.labels for p in session.curve] == [10, 20] and session.accuracy is not None
    assert all(item.guess is not None for item in session.page)
    assert sample_workspace.has_model("cnn")


@pytest.mark.slow
def test_simulated_runs_are_a_function_of_the_command(sample_workspace, tmp_path, capsys):
    args = ["simulate", str(sample_workspace.path), "--mode", "batch", "--labels", "20", "--seed", "3"]
    for key, value in BATCH_TINY.items():
        args += ["--set", f"{key}={value}"]
    curves = []
    for n in range(2):
        assert main([*args, "--out", str(tmp_path / f"{n}.json")]) == 0
        curves.append(json.loads((tmp_path / f"{n}.json").read_text())["curve"])
    assert [(p["labels"], p["seconds"], p["accuracy"]) for p in curves[0]] == \
        [(p["labels"], p["seconds"], p["accuracy"]) for p in curves[1]]
    # the round's compute is charged from the cost model: at 1.75 s a label, round 1 (started at 10
    # labels) is applied a whole number of labels later, the same on any machine
    assert [p["labels"] for p in curves[0]] == [10, 20]
    err = capsys.readouterr().err
    assert "simulating batch: update at 10 labels" in err  # progress on stderr when it is not a terminal


# -- model files and resume --------------------------------------------------------------------------


def test_a_model_for_another_pool_is_a_one_line_error(sample_workspace, tmp_path, capsys):
    other = make_pool(n=30, n_classes=3, shape=(8, 8))
    cnn = CNNClassifier(arch="small", epochs=1, patience=0).fit(other.as_float(), other.truth, 3)
    cnn.save(sample_workspace.model_path("cnn"))
    with pytest.raises(TuilabelError, match="the model is for 3 classes, the pool has 10"):
        BatchSession(sample_workspace)
    assert main(["eval", str(sample_workspace.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(sample_workspace.model_path("cnn")) in err
    cnn4 = CNNClassifier(arch="small", epochs=1, patience=0)
    cnn4.fit(np.zeros((20, 1, 8, 8), np.float32), np.arange(20) % 10, 10)
    cnn4.save(sample_workspace.model_path("cnn"))
    with pytest.raises(TuilabelError, match="images of 1x8x8, the pool's are 1x28x28"):
        BatchSession(sample_workspace)


@pytest.mark.slow
def test_batch_resumes_with_its_model_and_ranking(sample_workspace):
    truth = sample_workspace.pool.truth
    first = BatchSession(sample_workspace, BatchSettings(**BATCH_TINY))
    while not first.due_update():
        first.handle(Action("label", int(truth[first.shown_item()])))
    first.update()
    labelled = set(first.labelled)
    again = BatchSession(sample_workspace, BatchSettings(**BATCH_TINY))
    assert again.round == 1 and again.history == first.history and again.next_round_at == first.next_round_at
    assert again.model is not None and "resumed after round 1" in again.view().message
    expected = [int(i) for i in first.ranking if int(i) not in labelled][: again.page_size]
    assert [it.index for it in again.page] == expected  # the saved ranking, not random order
    assert all(it.guess is not None and it.uncertainty is not None for it in again.page)
    assert [p.labels for p in again.curve] == [10]


@pytest.mark.slow
def test_quitting_batch_mid_round_keeps_the_round(sample_workspace):
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.batch import BatchScreen

    truth = sample_workspace.pool.truth
    settings = BatchSettings(**{**BATCH_TINY, "epochs": 20, "semi": False})  # a round of seconds: time to quit

    async def first_visit():
        app = TuilabelApp(sample_workspace, mode="batch", settings=settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            session = app.screen.session
            for _ in range(10):
                await pilot.press(str(int(truth[session.shown_item()])))
            assert session.updating and not sample_workspace.has_model("cnn")  # the round runs: quit now
            await pilot.press("q")
        return app

    app = asyncio.run(first_visit())
    assert app.updates.wait(120)  # what `tuilabel label` waits for after the app has quit
    assert sample_workspace.has_model("cnn")

    async def second_visit():
        app = TuilabelApp(sample_workspace, mode="batch", settings=settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BatchScreen) and screen.session.round == 1
            captions = [str(tile.caption.text) for tile in screen.tiles[:3]]
        return captions

    captions = asyncio.run(second_visit())
    assert all("no guess" not in c for c in captions), captions  # the saved round's guesses (their percentage
    # comes once labels have checked them: calibration.py)


@pytest.mark.slow
def test_leaving_while_an_update_reports_progress_keeps_the_app_and_the_result(sample_workspace):
    """Found by random keys under load: progress (or the result) reaching a screen whose widgets were
    being removed raised NoMatches, which failed the update on its thread and then the app."""
    import threading

    from textual.widget import Widget

    from tuilabel.tui.app import TuilabelApp

    class SlowToGo(Widget):  # holds the screen's removal open after its other widgets have gone
        async def on_unmount(self) -> None:
            await asyncio.sleep(0.5)

    truth = sample_workspace.pool.truth
    settings = BatchSettings(**BATCH_TINY)
    leaving, stop = threading.Event(), threading.Event()
    reports = []

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch", settings=settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.PROGRESS_EVERY = 0.0  # every report drawn at once
            await screen.mount(SlowToGo())
            session = screen.session
            train = session.train

            def slow_train(job, progress):
                leaving.wait(30)
                while not stop.is_set():  # report all through the screen's removal
                    progress(0.5, "still training")
                    reports.append(1)
                return train(job, progress)

            session.train = slow_train
            for _ in range(10):
                await pilot.press(str(int(truth[session.shown_item()])))
            assert session.updating
            leaving.set()
            await pilot.pause(0.2)
            await pilot.press("escape")
            await pilot.pause(0.5)
            stop.set()
            assert type(app.screen).__name__ == "StartScreen" and app.is_running
            await pilot.pause(0.2)
        return app

    app = asyncio.run(go())
    assert app.return_code in (None, 0) and len(reports) > 10
    assert app.updates.wait(120) and sample_workspace.has_model("cnn")  # the round was saved all the same


@pytest.mark.slow
def test_a_progress_report_held_back_does_not_outlive_its_update(sample_workspace):
    """Found in tmux: the clusters screen said "epoch 1: done" instead of the epoch's outcome, since
    the last report, held back by the throttle, was drawn after the update had been applied."""
    from tuilabel.tui.app import TuilabelApp

    truth = sample_workspace.pool.truth

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch", settings=BatchSettings(**BATCH_TINY))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.PROGRESS_EVERY = 0.3
            session = screen.session
            train = session.train

            def train_and_report(job, progress):
                result = train(job, progress)
                progress(1.0, "first report")
                progress(1.0, "held back report")  # within PROGRESS_EVERY: drawn when the interval ends
                return result

            session.train = train_and_report
            for _ in range(10):
                await pilot.press(str(int(truth[session.shown_item()])))
            while session.updating:
                await pilot.pause(0.05)
            await pilot.pause(0.6)  # past the held-back report's timer
            return screen.progress_text, session.round

    text, rounds = asyncio.run(go())
    assert rounds == 1 and text == ""


@pytest.mark.slow
def test_clusters_resumes_its_epoch_and_history(sample_workspace, vae_file, encoder_file):
    import shutil

    from tuilabel.models.vae import VAEClassifier

    TINY = ClustersSettings(**CLUSTERS_TINY)
    shutil.copy(vae_file, sample_workspace.model_path("vae"))
    shutil.copy(encoder_file, sample_workspace.model_path("clusters-space"))
    session = ClustersSession.open(sample_workspace, TINY, clock=SimClock())
    for label in (1, 2, 3, 4):
        session.handle(Action("label", label))
    assert session.update_if_due()
    again = ClustersSession.open(sample_workspace, TINY, clock=SimClock())
    assert again.epoch == 2 and again.history == session.history and again.accuracy == session.accuracy
    assert again.learner is not None and [p.labels for p in again.curve] == [4]
    assert VAEClassifier.load(sample_workspace.model_path("vae")).labelled_epochs_ == 1


def test_stream_keeps_its_label_weights(stream_workspace):
    session = StreamSession(stream_workspace, StreamSettings(autospeed=False), clock=SimClock())
    session.handle(Action("label", 3))
    for _ in range(5):
        session.clock.now = session.next_frame_at  # type: ignore[attr-defined]
        session.tick()
    session.close()
    again = StreamSession(stream_workspace, clock=SimClock())
    assert np.allclose(again.rbm.U_.numpy(), session.rbm.U_.numpy()) and float(again.rbm.U_.abs().sum()) > 0


@pytest.mark.slow
def test_train_cnn_then_batch_opens_with_guesses(sample_workspace, capsys):
    pool = sample_workspace.pool
    s = sample_workspace.store.start_session("browse")
    for i in range(30):
        sample_workspace.store.add(s, pool.ids[i], int(pool.truth[i]))
    argv = ["train", str(sample_workspace.path), "--model", "cnn"]
    for key, value in BATCH_TINY.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    assert "batch CNN trained on 30 labels" in capsys.readouterr().out
    session = BatchSession(sample_workspace, BatchSettings(**BATCH_TINY))
    assert session.round == 1 and all(item.guess is not None for item in session.page)


# -- packaging ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_wheel_carries_the_sample(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip().splitlines()[-1:]}")
    (wheel,) = tmp_path.glob("tuilabel-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"tuilabel/sample_data/mnist-pool.npz", "tuilabel/sample_data/mnist-test.npz"} <= names
    assert "tuilabel/sessions/registry.py" in names


def test_demo_finds_the_sample(tmp_path, monkeypatch):
    from tuilabel.workspace import open_or_create_demo, sample_dir

    assert (sample_dir() / "mnist-pool.npz").is_file()
    monkeypatch.setenv("TUILABEL_HOME", str(tmp_path))
    ws = open_or_create_demo()
    assert len(ws.pool) == 4000 and ws.test is not None
    ws.close()
    assert isinstance(Workspace(tmp_path / "demo"), Workspace)
