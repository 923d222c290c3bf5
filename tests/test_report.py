"""`tuilabel report` and the stopping signal every labeling screen shows."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from PIL import Image

from tuilabel.cli import main
from tuilabel.curves import stopping_signal
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.batch import BatchSession, BatchSettings

from .conftest import BATCH_TINY as TINY


def test_stopping_signal_follows_a_power_law_curve():
    labels = [20, 40, 80, 160]
    points = [(n, 1 - 0.5 / np.sqrt(n)) for n in labels]
    signal = stopping_signal(points)
    assert signal is not None and signal.labels == 160 and signal.accuracy == pytest.approx(points[-1][1])
    expected = (0.5 / (0.5 / np.sqrt(160) - 0.01)) ** 2 - 160  # where the error is one point lower
    assert signal.per_point == pytest.approx(expected, abs=2)
    assert "+1 pt ≈" in signal.text()
    assert stopping_signal([(20, 0.7), (40, 0.8)]).per_point is None  # too few points to fit
    assert stopping_signal([(20, 0.9), (40, 0.85), (80, 0.8)]).per_point is None  # falling: no promise
    assert stopping_signal([(20, None)]) is None


@pytest.fixture
def worked_workspace(sample_workspace):
    """A workspace with human labels and two batch rounds saved (curve, CNN)."""
    session = BatchSession(sample_workspace, BatchSettings(**TINY), clock=SimClock(), page_size=5)
    truth = sample_workspace.pool.truth
    for _ in range(2):
        while not session.due_update():
            session.handle(Action("label", int(truth[session.shown_item()])))
        session.update()
    return sample_workspace


@pytest.mark.slow
def test_report_prints_plots_and_writes_png_and_html(worked_workspace, tmp_path, capsys):
    ws = str(worked_workspace.path)
    png = tmp_path / "report.png"
    assert main(["report", ws, "--out", str(png)]) == 0
    out = capsys.readouterr().out
    for needle in ("test accuracy (%) by labels spent", "labels per class", "labels by source over time",
                   "confusion of the batch CNN on the test set", "when to stop (batch): acc"):
        assert needle in out, needle
    assert "\x1b[" not in out  # not a terminal: plain characters
    with Image.open(png) as image:
        assert image.size == (1600, 950)
        pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 10  # something is drawn, not a blank page
    html = tmp_path / "report.html"
    assert main(["report", ws, "--out", str(html)]) == 0
    page = html.read_text()
    assert "data:image/png;base64," in page and "confusion of the batch CNN" in page
    capsys.readouterr()
    assert main(["report", ws, "--out", str(tmp_path / "report.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "report.txt" in err[0] and ".png or .html" in err[0]


def test_report_on_a_fresh_workspace_says_what_is_missing(sample_workspace, capsys):
    assert main(["report", str(sample_workspace.path)]) == 0
    assert "no learning curve yet" in capsys.readouterr().out


@pytest.mark.slow
def test_labeling_screens_show_the_stopping_signal(worked_workspace):
    from tuilabel.tui.app import TuilabelApp

    async def run() -> str:
        app = TuilabelApp(worked_workspace, mode="batch", colors="none")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            header = app.screen.query_one("HeaderTitle")
            assert len(str(header.render())) <= header.size.width  # nothing cut at 80 columns
            return str(app.screen.sub_title)

    subtitle = asyncio.run(run())
    assert subtitle.startswith("acc ") and "+1 pt" in subtitle and subtitle.endswith(worked_workspace.path.name)


def test_cross_validation_holds_every_label_out_once():
    from tuilabel.sessions.base import cross_validated

    y = np.array([0, 1, 2] * 7 + [0])
    held_out: list[int] = []

    def oracle(train, held):
        assert not set(train) & set(held) and set(np.bincount(y[held], minlength=3)) <= {2, 3}  # stratified
        held_out.extend(held.tolist())
        return y[held]

    assert cross_validated(y, 3, oracle) == 1.0
    assert sorted(held_out) == list(range(len(y)))
    assert cross_validated(y, 3, lambda train, held: np.zeros(len(held), int)) == pytest.approx(8 / 22)
    assert cross_validated(y[:5], 3, oracle) is None  # fewer than two labels a fold
    scored = (y != 0).astype(float)  # the 0s train every fold but are never scored
    assert cross_validated(y, 3, lambda train, held: np.zeros(len(held), int), weights=scored) == 0.0
    assert cross_validated(y, 3, lambda train, held: np.where(y[held] == 0, 5, y[held]), weights=scored) == 1.0


@pytest.mark.slow
def test_without_a_test_set_the_accuracy_is_cross_validated(tmp_path, sample_arrays):
    from tuilabel.workspace import Workspace

    ws = Workspace.init(tmp_path / "no-test", sample_arrays[0])
    try:
        assert ws.test is None
        # enough labels and epochs that a cross-validated estimate can tell a model from chance (one
        # fit a round: the estimate, not the semi-supervised second fit, is under test)
        session = BatchSession(ws, clock=SimClock(), page_size=5,
                               settings=BatchSettings(**{**TINY, "start": 20, "epochs": 6, "semi": False}))
        truth = ws.pool.truth
        while not session.due_update():
            session.handle(Action("label", int(truth[session.page[session.focus].index])))
        session.update()
        point = session.curve[-1]
        assert point.extra["estimate"] == "cv" and 0.2 < point.accuracy <= 1.0
        signal = stopping_signal([(p.labels, p.accuracy) for p in session.curve], estimate="cv")
        assert signal is not None and signal.text().startswith("cv acc ")
        from tuilabel.report import gather, terminal

        text = terminal(gather(ws, confusion=False))  # the report names the figure as the header does
        assert "cv accuracy (on your labels) (%) by labels spent" in text and "test accuracy" not in text
        off = BatchSession(ws, clock=SimClock(), settings=BatchSettings(**TINY, cv_folds=0, semi=False), page_size=5,
                           save_models=False)
        while not off.due_update():
            off.handle(Action("label", int(truth[off.page[off.focus].index])))
        off.update()
        assert off.curve[-1].accuracy is None and off.curve[-1].extra["estimate"] == "none"
    finally:
        ws.close()


def test_report_plots_review_against_its_labels_and_counts_a_kept_label_once(sample_workspace):
    from tuilabel.report import gather

    ws = sample_workspace
    ws.model_path("review-state").write_text(json.dumps({"curve": [
        {"labels": 0, "seconds": 1.0, "accuracy": 0.8, "extra": {"reviewed": 0, "labelled": 50}},
        {"labels": 12, "seconds": 9.0, "accuracy": 0.85, "extra": {"reviewed": 12, "labelled": 50}}]}))
    session = ws.store.start_session("batch", "ann")
    ws.store.add(session, str(ws.pool.ids[0]), 1)
    ws.store.add(session, str(ws.pool.ids[1]), 2)
    review = ws.store.start_session("review", "ann")
    ws.store.add(review, str(ws.pool.ids[0]), 1)  # kept on a second look
    report = gather(ws, confusion=False)
    assert [n for n, _, _ in report.curves["review"]] == [50, 50]
    assert len(report.timeline["human"]) == 2
