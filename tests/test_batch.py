from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

import tuilabel.sessions.batch.rounds as batch_module
from tuilabel.cli import main
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.base import choose_augment
from tuilabel.sessions.batch import BatchSession, BatchSettings, RoundJob

from .conftest import BATCH_TINY as TINY


def test_labels_commit_at_once_and_pages_advance(sample_workspace):
    session = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**TINY), page_size=4)
    first_page = [it.item_id for it in session.page]
    assert len(first_page) == 4
    session.handle(Action("label", 3))
    assert sample_workspace.store.current() == {first_page[0]: (3, 1.0)}
    session.handle(Action("unsure"))
    session.handle(Action("accept"))  # no model yet: nothing accepted
    assert "no guess yet" in session.view().message
    session.handle(Action("label", 1))
    session.handle(Action("label", 2))  # the page is done: a new one
    assert session.view().page_number == 2 and not set(it.item_id for it in session.page) & set(first_page)
    session.handle(Action("undo"))  # brings back the last image of the previous page
    assert session.page[session.focus].item_id == first_page[3]
    assert first_page[3] not in sample_workspace.store.current()


@pytest.mark.slow
def test_rounds_rank_unlabelled_items_and_save_the_model(sample_workspace):
    settings = BatchSettings(**TINY)
    session = BatchSession(sample_workspace, clock=SimClock(), settings=settings, page_size=5)
    truth = sample_workspace.pool.truth
    while not session.due_update():
        session.handle(Action("label", int(truth[session.page[session.focus].index])))
    session.update()
    view = session.view()
    assert view.round == 1 and view.accuracy is not None and session.curve[0].labels == 10
    assert not set(session.ranking.tolist()) & session.labelled
    assert all(it.guess is not None for it in session.page)
    assert session.next_round_at == 20  # exponential: label as many as are labelled
    session.handle(Action("accept"))
    while not session.due_update():
        session.handle(Action("label", int(truth[session.page[session.focus].index])))
    session.update()
    assert session.round == 2 and len(sample_workspace.store.current(("human",))) == 20
    assert not sample_workspace.store.current(("pseudo",))  # the semi-supervised guesses are never stored
    assert main(["eval", str(sample_workspace.path)]) == 0  # the round saved models/cnn.npz


@pytest.mark.slow
def test_cnn_trains_on_labelled_stream_frames(sample_workspace):
    pool = sample_workspace.pool
    store = sample_workspace.store
    stream = store.start_session("stream")
    for i in range(40):  # stream frames (here: pool images stand in for samples) with their labels
        store.add(stream, None, int(pool.truth[i]), sample=pool.images[i])
    settings = BatchSettings(**TINY, stream_frames=True)
    session = BatchSession(sample_workspace, clock=SimClock(), settings=settings, page_size=4)
    for _ in range(10):
        session.handle(Action("label", int(pool.truth[session.page[session.focus].index])))
    job = session.snapshot()
    assert job.frames_x.shape == (40, 1, 28, 28) and job.frames_y.tolist() == pool.truth[:40].tolist()
    session.apply(job, session.train(job))
    assert session.accuracy is not None


@pytest.mark.slow
def test_simulate_batch(sample_workspace, tmp_path):
    out = tmp_path / "batch.json"
    args = ["simulate", str(sample_workspace.path), "--mode", "batch", "--labels", "25", "--out", str(out)]
    for key, value in TINY.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    curve = json.loads(out.read_text())["curve"]
    labels = [p["labels"] for p in curve]
    # a round takes effect after its compute time on the simulated clock, so on a loaded machine the
    # second round may start a few labels late; the first is at `start`, the last on every label
    assert labels[0] == 10 and labels[-1] == 25 and labels == sorted(set(labels))
    assert all(p["accuracy"] > 0.1 for p in curve)
    assert curve[0]["scored"] == 150  # the tests' cap (conftest.small_rounds), as 20,000 of a larger pool


def test_batch_screen_labels_the_focused_tile(sample_workspace):
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.batch import BatchScreen

    async def go():
        app = TuilabelApp(sample_workspace, mode="batch")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BatchScreen) and len(screen.tiles) >= 2
            ids = [it.item_id for it in screen.session.page[:2]]
            view = screen.tiles[0].view
            assert np.array_equal(view._pixels, screen.picture(screen.session.page[0].image))
            await pilot.press("7", "x")
            await pilot.pause()
            await pilot.press("q")
        return ids

    ids = asyncio.run(go())
    assert sample_workspace.store.current() == {ids[0]: (7, 1.0), ids[1]: (None, 1.0)}


@pytest.mark.slow
def test_semi_supervised_round_trains_on_sure_guesses(sample_workspace, monkeypatch):
    session = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**TINY), page_size=5,
                           save_models=False)
    truth = sample_workspace.pool.truth
    while not session.due_update():
        session.handle(Action("label", int(truth[session.page[session.focus].index])))
    session.update()
    point = session.curve[-1].extra
    assert point["semi_guesses"] > 0 and point["augment"] == "shift"  # too few labels a class to measure yet
    from tuilabel.models.cnn import CNNClassifier

    one_fit = TINY["epochs"] * CNNClassifier().images_per_epoch(TINY["start"])  # the supervised fit alone
    assert point["images_trained"] >= 2 * one_fit  # two fits: the supervised one, then with the guesses
    off = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**TINY, semi=False), page_size=5,
                       save_models=False)
    job = off.snapshot()
    result = off.train(job)
    assert result.guesses == 0 and result.images_trained < point["images_trained"]
    # once every class has 16 labels, a second semi-supervised fit learns from the first one's guesses
    pool = sample_workspace.pool
    idx = np.concatenate([np.flatnonzero(pool.truth == c)[:16] for c in range(10)])
    others = np.setdiff1d(np.arange(len(pool)), idx)[:120]
    steps = {}
    for n in (1, 2):
        monkeypatch.setattr(batch_module, "SEMI_STEPS", n)
        s = BatchSession(sample_workspace, settings=BatchSettings(**TINY, augment="shift"), save_models=False)
        for few in (False, True):
            take = idx[::4] if few else idx
            job = RoundJob(1, pool.as_float(take), pool.truth[take].astype(np.int64), take, others, 10, len(take),
                           0.0)
            steps[n, few] = s.train(job)
        s.close()
    assert steps[2, False].views_scored == 2 * steps[1, False].views_scored  # read again by the second model
    assert steps[2, False].images_trained > steps[1, False].images_trained and steps[2, False].guesses > 0
    assert steps[2, True].views_scored == steps[1, True].views_scored  # 4 a class: one step
    monkeypatch.setattr(batch_module, "SEMI_AGREE", 1.0)
    strict = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**TINY), page_size=5,
                          save_models=False)
    job = strict.snapshot()
    assert strict.train(job).guesses <= point["semi_guesses"]  # every view must agree: fewer guesses
    for s in (session, off, strict):
        s.close()


@pytest.mark.slow
def test_semi_supervised_fits_train_longer_once_every_class_has_16_labels(sample_workspace, monkeypatch):
    """Rounds are far apart by then: each semi-supervised fit gets twice the image passes."""
    monkeypatch.setattr(batch_module, "TRAIN_PASSES", 1000)  # small enough that 8 epochs do not cap it
    monkeypatch.setattr(batch_module, "MIN_SEMI_EPOCHS", 2)  # (a real round trains at least 10)
    import tuilabel.models.cnn as cnn

    monkeypatch.setattr(cnn, "MIN_BATCHES_PER_EPOCH", 10)  # the product's epochs: what the passes are counted in
    pool = sample_workspace.pool
    idx = np.concatenate([np.flatnonzero(pool.truth == c)[:16] for c in range(10)])
    others = np.setdiff1d(np.arange(len(pool)), idx)[:120]
    trained = {}
    for ask_after in (16, 17):  # the same labels, counted as enough or not
        monkeypatch.setattr(batch_module, "ASK_AFTER", ask_after)
        monkeypatch.setattr(batch_module, "SEMI_STEPS", 1)
        s = BatchSession(sample_workspace, settings=BatchSettings(**{**TINY, "epochs": 8}, augment="shift"),
                         save_models=False)
        job = RoundJob(1, pool.as_float(idx), pool.truth[idx].astype(np.int64), idx, others, 10, len(idx), 0.0)
        result = s.train(job)
        assert result.guesses > 0
        trained[ask_after] = result.images_trained
        s.close()
    supervised = 8 * cnn.CNNClassifier().images_per_epoch(len(idx))  # the first fit: 8 epochs of at least 10 batches
    assert trained[16] - supervised > 1.6 * (trained[17] - supervised)


@pytest.mark.slow
def test_augment_auto_measures_both_kinds_when_the_labels_allow(sample_workspace):
    session = BatchSession(sample_workspace, settings=BatchSettings(**TINY), save_models=False)
    pool = sample_workspace.pool
    idx = np.concatenate([np.flatnonzero(pool.truth == c)[:4] for c in range(10)])
    job = RoundJob(1, pool.as_float(idx), pool.truth[idx].astype(np.int64), idx, np.arange(0), 10, len(idx), 0.0)
    choice, scores, trained, checked = batch_module.measure_augment(session, job, lambda *a: None)
    assert set(scores) == {"shift", "geometric"} and choice in scores and trained > 0 and checked == 4
    job.augment_checked = 4
    assert batch_module.measure_augment(session, job, lambda *a: None)[1:] == ({}, 0, 4)  # measured once a level
    fixed = BatchSession(sample_workspace, settings=BatchSettings(**TINY, augment="none"), save_models=False)
    job.augment_checked, job.augment = 0, "none"
    assert batch_module.measure_augment(fixed, job, lambda *a: None) == ("none", {}, 0, 0)
    session.close()
    fixed.close()


def test_choose_augment_keeps_what_cross_validates_better_and_measures_once_a_level():
    labels = {"y": np.repeat(np.arange(3), 4)}
    calls = []

    def fit_predict(kind, train, held):
        calls.append((kind, len(train), len(held)))
        y = labels["y"]
        return y[held] if kind == "geometric" else (y[held] + 1) % 3  # geometric right, shift wrong

    assert choose_augment(labels["y"], 3, "shift", 0, fit_predict) == ("geometric", {"shift": 0.0, "geometric": 1.0},
                                                                        4)
    assert [k for k, _, _ in calls] == ["shift"] * 3 + ["geometric"] * 3  # three folds each
    assert all(t + h == 12 for _, t, h in calls)
    calls.clear()
    assert choose_augment(labels["y"], 3, "geometric", 4, fit_predict) == ("geometric", {}, 4)  # measured at 4
    assert not calls
    labels["y"] = np.repeat(np.arange(3), 16)
    assert choose_augment(labels["y"], 3, "geometric", 4, fit_predict)[2] == 16 and calls  # 16 a class: again
    assert choose_augment(labels["y"][:20], 3, "shift", 0, fit_predict) == ("shift", {}, 0)  # a class has none


def test_a_large_subset_is_scored_under_fewer_views_on_a_cpu(sample_workspace):
    session = BatchSession(sample_workspace, settings=BatchSettings(**{**TINY, "augmentations": 10}),
                           save_models=False)
    views = [batch_module.views_for(session, n) for n in (100, 20_000, 10**6)]
    assert views == ([10, 10, 10] if batch_module.on_gpu() else [10, 2, 1])
    session.close()


@pytest.mark.slow
def test_auto_keeps_random_order_until_the_model_is_worth_asking(sample_workspace):
    truth = sample_workspace.pool.truth
    orders, jobs, rankings = {}, {}, {}
    for strategy in ("auto", "entropy"):
        session = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**TINY, strategy=strategy),
                               save_models=False)
        while not session.due_update():
            session.handle(Action("label", int(truth[session.page[session.focus].index])))
        jobs[strategy] = session.snapshot()
        result = session.train(jobs[strategy])
        orders[strategy] = np.array([result.uncertainty[i] for i in result.ranking[:30]])
        rankings[strategy] = result.ranking
        session.close()
    assert (np.diff(orders["entropy"]) <= 1e-9).all()  # most uncertain first
    assert not (np.diff(orders["auto"]) <= 1e-9).all()  # 10 labels, fewer than 16 a class: random order
    rand = BatchSession(sample_workspace, settings=BatchSettings(**TINY, strategy="random"), save_models=False)
    assert (rand.train(jobs["auto"]).ranking == rankings["auto"]).all()  # strategy=random's very order: paired
    rand.close()


def test_a_round_on_a_large_pool_scores_a_random_subset(monkeypatch):
    from tuilabel.sessions.batch import score_subset

    monkeypatch.undo()  # the real caps, not the tests' small rounds (conftest.small_rounds)
    if batch_module.on_gpu():
        assert score_subset("small", 60_000) == 0 and score_subset("small", 300_000) == 200_000
    else:
        assert score_subset("small", 4000) == 0 and score_subset("small", 60_000) == 20_000
        assert score_subset("seed-mnist", 4000) == 2000  # seed 001's networks are ~9x slower on a CPU
