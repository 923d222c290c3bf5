"""Review mode: the doubt ranking, the keys, corrections as new events, resume, second opinions,
the simulation and the screen."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from tuilabel.agreement import agreement, cohen_kappa
from tuilabel.cli import main
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.review import ReviewSession, ReviewSettings, confident_errors, doubt_scores

QUICK = dict(folds=2, epochs=8, rerank_every=10, seed=0)


def test_doubt_and_confident_learning_flag_what_the_model_disputes():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.05, 0.05, 0.9], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 0, 2, 1])  # items 2 and 4 look like other classes
    doubt = doubt_scores(probs, labels)
    assert np.argsort(-doubt)[:2].tolist() == [2, 4]
    margin = doubt_scores(probs, labels, "margin")
    assert margin[2] > 0.5 > margin[0] and margin.min() >= 0 and margin.max() <= 1
    assert confident_errors(probs, labels, 3).tolist() == [False, False, True, False, True]


def test_cohen_kappa_and_agreement_per_pair():
    assert cohen_kappa(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1])) == pytest.approx(0.5)
    assert cohen_kappa(np.array([2, 2]), np.array([2, 2])) == 1.0
    assert cohen_kappa(np.array([], np.int64), np.array([], np.int64)) is None


def noisy_labels(ws, n: int, rate: float, seed: int = 0) -> tuple[np.ndarray, set[int]]:
    """``n`` pool items labelled by an annotator who errs at ``rate``: the items and the wrong ones."""
    pool, store = ws.pool, ws.store
    rng = np.random.default_rng(seed)
    items = np.sort(rng.choice(len(pool), n, replace=False))
    given = pool.truth[items].copy()
    flip = rng.random(n) < rate
    given[flip] = (given[flip] + rng.integers(1, pool.n_classes, flip.sum())) % pool.n_classes
    session = store.start_session("browse", "ann")
    store.add_many(session, [(str(pool.ids[i]), int(g), 1.0) for i, g in zip(items, given)])
    return items, {int(i) for i in items[flip]}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, sample_arrays):
    """A workspace with 300 noisy labels and a review session that has ranked them once."""
    from tuilabel.workspace import Workspace

    ws = Workspace.init(tmp_path_factory.mktemp("review") / "ws", sample_arrays[0], test=sample_arrays[1])
    items, wrong = noisy_labels(ws, 300, 0.2)
    session = ReviewSession(ws, ReviewSettings(**QUICK), clock=SimClock(), page_size=6)
    assert session.due_update() and not session.page
    session.update()
    yield ws, session, items, wrong
    ws.close()


@pytest.mark.slow
def test_the_queue_puts_the_wrong_labels_first(reviewed):
    _ws, session, _items, wrong = reviewed
    top = session.queue[: len(wrong)]
    precision = len(set(top) & wrong) / len(wrong)
    assert precision >= 0.6, precision  # a random order would give the error rate, 0.2
    assert session.curve[0].accuracy is not None and session.curve[0].extra["judged"] == 300
    # the page is grouped by stored class, and shows the stored label with the model's guess
    page = session.view().page
    assert [it.stored for it in page] == sorted(it.stored for it in page)
    assert all(it.guess is not None and it.stored_p is not None for it in page)


def test_keep_correct_unusable_and_undo_are_review_events(reviewed):
    ws, session, _items, _wrong = reviewed
    store = ws.store
    before = store.n_events()
    first = session.page[session.focus]
    session.handle(Action("keep"))
    assert store.current()[first.item_id] == (first.stored, 1.0)
    second = session.page[session.focus]
    new = (second.stored + 1) % ws.pool.n_classes
    session.handle(Action("label", new))
    assert store.current()[second.item_id] == (new, 1.0)
    # the old label is still in the log, the correction is a human event of a review session
    log = [(ev.label, ev.mode) for ev in store.events(("human",)) if ev.item_id == second.item_id]
    assert log == [(second.stored, "browse"), (new, "review")]
    third = session.page[session.focus]
    session.handle(Action("unusable"))
    assert store.current()[third.item_id] == (None, 1.0)
    assert session.view().reviewed == 3 and session.view().corrected == 1 and session.view().unusable == 1
    assert first.index not in session.queue[:0] and session.shown_item() != first.index
    session.handle(Action("undo"))  # the unusable mark is taken back: the annotator's label returns
    assert store.current()[third.item_id] == (third.stored, 1.0)
    assert session.shown_item() == third.index and session.view().unusable == 0
    assert store.n_events() == before + 4  # keep, correct, unusable, undo: nothing deleted
    session.handle(Action("label", 99))
    assert "no class 99" in session.view().message
    # export reads the corrected label
    out = ws.path / "labels.csv"
    assert main(["export", str(ws.path), "--format", "csv", "--out", str(out)]) == 0
    import csv

    rows = {r["item_id"]: r for r in csv.DictReader(out.open())}
    assert rows[second.item_id]["class_name"] == ws.pool.class_names[new]
    assert rows[second.item_id]["mode"] == "review"


@pytest.mark.slow
def test_review_measures_its_augmentation_once_or_takes_another_modes(reviewed, tmp_path, sample_arrays):
    from tuilabel.sessions.base import measured_augment
    from tuilabel.workspace import Workspace

    ws, session, _items, _wrong = reviewed
    # the first round, nothing measured before: shift ranks at once, its agreement scored
    first = session.curve[0].extra
    assert first["augment"] == "shift" and set(first["augment_cv"]) == {"shift"}
    assert session.augment is None and session.measuring is not None
    state = json.loads(ws.model_path("review-state").read_text())
    assert state["augment"] == "shift" and state["augment_measured"] is False
    assert ReviewSession(ws, ReviewSettings(**QUICK), clock=SimClock(), page_size=6).augment is None  # not measured
    # at once the next round fits geometric on the same labels and folds, while the person reviews
    assert session.due_update()
    ranking = dict(session.probs)
    job = session.snapshot()
    assert job.augment == "geometric" and job.measured == first["augment_cv"] and job.folds_of == 1
    assert session.page and not session.waiting()  # the first page stays up meanwhile
    result = session.train(job)
    session.persist(job, result)
    session.apply(job, result)
    scores = result.augment_scores
    assert set(scores) == {"shift", "geometric"} and all(0 < v <= 1 for v in scores.values())
    assert scores["shift"] == first["augment_cv"]["shift"]
    best = "geometric" if scores["geometric"] > scores["shift"] else "shift"
    assert result.chosen == best and session.augment == best and session.curve[1].extra["augment"] == best
    if best == "shift":  # the ranking from shift stands
        assert session.curve[1].extra["fitted"] == "geometric"
        assert all(np.array_equal(session.probs[i], p) for i, p in ranking.items())
    else:
        assert any(not np.array_equal(session.probs[i], p) for i, p in ranking.items())
    assert best in session.message and not session.due_update()
    state = json.loads(ws.model_path("review-state").read_text())
    assert state["augment"] == best and state["augment_measured"] is True and state["round"] == 2
    again = ReviewSession(ws, ReviewSettings(**QUICK), clock=SimClock(), page_size=6)
    assert again.augment == best and set(again.probs) == set(session.probs)  # reopened: not measured again
    told = ReviewSession(ws, ReviewSettings(**QUICK, augment="none"), clock=SimClock(), page_size=6)
    assert told.augment == "none" and told.fold_model(100, 0).augment is None

    # another workspace: batch measured shift at 4 a class, clusters geometric at 16: the later one
    other = Workspace.init(tmp_path / "ws", sample_arrays[0], test=sample_arrays[1])
    assert measured_augment(other) is None
    n = len(other.pool)
    states = {"batch": {"items": n, "augment": "shift", "augment_checked": 4},
              "clusters": {"items": n, "augment": "geometric", "augment_checked": 16}}
    for mode, state in states.items():
        other.model_path(f"{mode}-state").write_text(json.dumps(state))
    assert measured_augment(other) == "geometric"
    states["clusters"]["augment_checked"] = 0  # its default, never measured: not taken
    other.model_path("clusters-state").write_text(json.dumps(states["clusters"]))
    assert measured_augment(other) == "shift"
    other.model_path("batch-state").write_text(json.dumps({**states["batch"], "items": n + 1}))  # another pool
    assert measured_augment(other) is None
    other.model_path("batch-state").write_text("{not json")
    assert measured_augment(other) is None
    other.model_path("batch-state").write_text(json.dumps({**states["batch"], "augment": "sideways"}))
    assert measured_augment(other) is None
    other.model_path("batch-state").write_text(json.dumps(states["batch"]))
    noisy_labels(other, 40, 0.2)
    taken = ReviewSession(other, ReviewSettings(**QUICK), clock=SimClock(), page_size=6)
    assert taken.augment == "shift"
    job = taken.snapshot()
    assert job.augment == "shift"
    result = taken.train(job)
    assert result.augment == "shift" and result.augment_scores == {}  # one kind fitted, nothing measured
    assert job.measured is None and result.chosen is None
    taken.persist(job, result)
    taken.apply(job, result)
    assert not taken.due_update()
    # review saved shift as taken over, not measured: without batch's choice, auto measures its own
    other.model_path("batch-state").unlink()
    assert ReviewSession(other, ReviewSettings(**QUICK), clock=SimClock(), page_size=6).augment is None
    other.close()


@pytest.mark.slow
def test_corrections_rerank_in_the_background_and_reviewed_items_stay_settled(reviewed):
    ws, session, _items, _wrong = reviewed
    truth = ws.pool.truth
    if session.measuring is not None:  # run alone: the augmentation's measurement first
        session.update()
    while not session.due_update():
        index = session.shown_item()
        assert index is not None
        stored = session.page[session.focus].stored
        session.handle(Action("keep") if stored == truth[index] else Action("label", int(truth[index])))
    points = len(session.curve)
    job = session.snapshot()
    assert job.measured is None  # the augmentation is settled: nothing left to measure
    assert session.updating and session.view().page  # the reviewer keeps going meanwhile
    index = session.shown_item()
    session.handle(Action("keep"))
    result = session.train(job)
    session.persist(job, result)
    session.apply(job, result)
    assert len(session.curve) == points + 1 and not session.updating
    assert index not in session.queue and not set(session.queue) & session.settled
    # a new session resumes the ranking: the settled items stay out, nothing is due
    again = ReviewSession(ws, ReviewSettings(**QUICK), clock=SimClock(), page_size=6)
    assert again.round == session.round and not again.due_update()
    assert set(again.queue) <= set(session.queue) | {index}
    assert not set(again.queue) & session.settled


def test_second_opinions_are_blind_and_agreement_shows_in_status(reviewed, capsys):
    ws, _session, _items, _wrong = reviewed
    second = ReviewSession(ws, ReviewSettings(**QUICK, stage="second"), clock=SimClock(), annotator="bob",
                           page_size=4)
    second.handle(Action("keep"))
    assert "hidden" in second.view().message
    answered = []
    for _ in range(6):
        index = second.shown_item()
        answered.append(index)
        second.handle(Action("label", int(ws.pool.truth[index])))
    humans = [ev for ev in ws.store.events(("human",)) if ev.annotator == "bob"]
    assert len(humans) == 6 and {ev.mode for ev in humans} == {"second-opinion"}
    pairs = agreement(ws.store.events(("human",), samples=False))
    assert any({a, b} == {"ann", "bob"} and n == 6 for a, b, n, _ in pairs)
    assert main(["status", str(ws.path)]) == 0
    out = capsys.readouterr().out
    assert "Cohen's kappa" in out and "bob" in out
    # review ranks the disputes first: where bob disagreed with the annotator
    review = ReviewSession(ws, ReviewSettings(**QUICK), clock=SimClock(), annotator="carol", page_size=4)
    disputed = [i for i in answered if review.disagreement(i)[0] > 0]
    assert disputed and review.queue[: len(disputed)] == sorted(review.queue[: len(disputed)],
                                                                key=lambda i: -review.disagreement(i)[0])
    assert set(review.queue[: len(disputed)]) == set(disputed)


@pytest.mark.slow
def test_simulated_review_reports_errors_found_and_accuracy(sample_workspace, tmp_path):
    out = tmp_path / "review.json"
    code = main(["simulate", str(sample_workspace.path), "--mode", "review", "--labels", "60",
                 "--error-rate", "0.3", "--seed", "0", "--out", str(out),
                 "--set", "folds=2", "--set", "epochs=3", "--set", "rerank_every=20"])
    assert code == 0
    result = json.loads(out.read_text())
    assert isinstance(result["injected_errors"], int) and result["injected_errors"] > 10
    assert result["errors_found"] <= result["injected_errors"] and result["errors_found"] > 0
    assert result["curve"] and all({"reviewed", "errors_found", "accuracy"} <= set(p) for p in result["curve"])
    found = [p["errors_found"] for p in result["curve"]]
    assert found == sorted(found) and result["curve"][-1]["reviewed"] == result["reviewed"]
    assert set(result["accuracy_after_training"]) == {"noisy", "reviewed", "clean"}


@pytest.mark.slow
def test_review_screen_keeps_corrects_and_marks(sample_workspace):
    from tuilabel.tui.app import TuilabelApp

    ws = sample_workspace
    noisy_labels(ws, 60, 0.3, seed=1)
    settings = ReviewSettings(folds=2, epochs=3)

    async def run() -> None:
        app = TuilabelApp(ws, mode="review", colors="none", settings=settings)
        async with app.run_test(size=(130, 40)) as pilot:  # a gallery of 4 x 2 tiles
            for _ in range(1200):  # two minutes at most on a busy machine
                await pilot.pause(0.1)
                session = app.screen.session
                if session is not None and session.augment is not None and not session.updating:
                    break
            screen = app.screen
            session = screen.session
            # round 1 ranked with shift, round 2 (started by itself) measured geometric on the same labels
            assert session.round == 2 and set(session.curve[-1].extra["augment_cv"]) == {"shift", "geometric"}
            assert len(session.page) == len(screen.tiles) == 8
            first = session.page[session.focus]
            await pilot.press("enter")
            second = session.page[session.focus]
            await pilot.press(str((second.stored + 1) % 10))
            third = session.page[session.focus]
            await pilot.press("x")
            current = ws.store.current()
            assert current[first.item_id][0] == first.stored
            assert current[second.item_id][0] == (second.stored + 1) % 10
            assert current[third.item_id][0] is None
            text = " ".join(t.caption._text.plain for t in screen.tiles)
            assert "✓ kept" in text and "unusable" in text
            assert "reviewed 3 (corrected 1, unusable 1)" in screen.query_one("#status")._text.plain
            await pilot.press("z")
            assert ws.store.current()[third.item_id][0] == third.stored
            # 80x24 fits two full-size digits: the gallery turns to ten half-size thumbnails
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            assert screen.half and len(screen.tiles) == 10
            shown = [t.view._pixels for t in screen.tiles if t.view._pixels is not None]
            assert shown and all(px.shape == (14, 14) for px in shown)
            item = session.page[0]
            expected = item.image.reshape(14, 2, 14, 2).mean(axis=(1, 3))
            assert np.abs(shown[0].astype(float) - expected).max() <= 1  # a box filter of the pool image

    asyncio.run(run())


def test_a_caption_too_long_for_its_tile_is_cut_not_wrapped():
    """Long class names under a 14-column thumbnail (photographs at 80x24): the focused caption
    keeps its stored→guess, cut with an ellipsis, instead of wrapping to a hidden second line."""
    from rich.text import Text
    from textual.app import App, ComposeResult

    from tuilabel.tui.gallery import Tile

    class One(App):
        def compose(self) -> ComposeResult:
            yield Tile("none", 14, 8)

    async def run() -> None:
        app = One()
        async with app.run_test(size=(40, 8)) as pilot:
            tile = app.query_one(Tile)
            tile.caption.set_text(Text("▶ ") + Text("brick→astronaut 97%"))
            await pilot.pause()
            row = tile.caption.region.y
            line = "".join(segment.text for segment in app.screen._compositor.render_strips()[row])
            assert line.startswith("▶ brick→astro…")

    asyncio.run(run())


def _features(truth: np.ndarray, signal: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    onehot = np.eye(int(truth.max()) + 1, dtype=np.float32)[truth]
    return (signal * onehot + rng.normal(0, 1.0, onehot.shape)).astype(np.float32)


@pytest.mark.parametrize("signal,winner", [(4.0, "head"), (0.0, "cnn")])
def test_with_a_backbone_the_heads_judge_first_then_a_cnn_is_measured_against_them(sample_workspace, signal, winner):
    ws = sample_workspace
    _items, wrong = noisy_labels(ws, 200, 0.2)
    test = ws.test
    session = ReviewSession(ws, ReviewSettings(**QUICK), clock=SimClock(), page_size=6,
                            features=_features(ws.pool.truth, signal),
                            test_features=None if test is None else _features(test.truth, signal, seed=1))
    assert session.judge == "head"
    job = session.snapshot()
    result = session.train(job)
    assert result.judge == "head" and result.images_trained == 0  # heads: no CNN trained
    session.apply(job, result)
    if winner == "head":  # informative features: the heads' folds find the wrong labels
        top = session.queue[: len(wrong)]
        assert len(set(top) & wrong) / len(wrong) >= 0.6
    ranked = dict(session.doubts)
    assert session.due_update()  # the contest: a CNN's folds on the same labels and folds
    job = session.snapshot()
    assert job.judge == "cnn" and job.contest == pytest.approx(result.agreement)
    contest = session.train(job)
    session.apply(job, contest)
    assert session.judge == winner and set(session.judge_scores) == {"head", "cnn"}
    if winner == "head":
        assert session.doubts == ranked and not session.due_update()  # the CNN lost: the heads' ranking stands
    else:
        assert session.doubts != ranked
        job = session.snapshot()  # augment=auto measures its other kind for the CNN, as without a backbone
        assert job.judge == "cnn" and job.contest is None and job.augment == "geometric"
