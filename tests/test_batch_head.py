"""Batch with a backbone: typical images first, a head on the embeddings refitted every few labels
beside the CNN's rounds, and the model that answers chosen by cross-validation. The embeddings are
injected (features that separate the classes, or that carry nothing): what is under test is the
session's logic, not the pretrained network (tests/test_backbones.py checks that)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.batch import BatchSession, BatchSettings
from tuilabel.sessions.batch import head as heads
from tuilabel.simulate import ItemLabeler, SimSettings, drive

from .conftest import BATCH_TINY as TINY


def _features(truth: np.ndarray, signal: float = 3.0, seed: int = 0) -> np.ndarray:
    """Each class a direction of its own, plus noise: what a good backbone gives."""
    rng = np.random.default_rng(seed)
    onehot = np.eye(int(truth.max()) + 1, dtype=np.float32)[truth]
    clean = np.concatenate([signal * onehot, np.zeros((len(truth), 6), np.float32)], 1)
    return clean + rng.normal(0, 0.3, clean.shape).astype(np.float32)


def _session(ws, features, **kw) -> BatchSession:
    test = ws.test
    test_features = None if test is None else _features(test.truth, seed=1) if features.std() > 0.5 else \
        np.random.default_rng(1).normal(0, 1, (len(test), features.shape[1])).astype(np.float32)
    return BatchSession(ws, clock=SimClock(), settings=BatchSettings(**{**TINY, **kw}), page_size=5,
                        features=features, test_features=test_features)


def _label_until(session: BatchSession, n: int) -> None:
    truth = session.pool.truth
    while session.classified < n:
        session.handle(Action("label", int(truth[session.page[session.focus].index])))
        session.update_if_due()


def test_typical_images_come_first_then_the_head_ranks_and_answers(sample_workspace):
    truth = sample_workspace.pool.truth
    session = _session(sample_workspace, _features(truth), start=40)
    assert session.learner == "head"
    first = session.ranking[:10]
    assert len(set(truth[first].tolist())) == 10  # typical images, far apart first: every class in the first 10
    _label_until(session, 40)  # the CNN's first round and the head's refits, in line
    assert session.round == 1 and session.head_rounds >= 1
    assert session.learner == "head"  # separable features: the head cross-validates better than a 40-label CNN
    point = next(p for p in session.curve if p.extra.get("round") == 1)
    cv = point.extra["learner_cv"]
    assert cv["head"] > cv["cnn"] and point.accuracy is not None and point.accuracy > 0.9
    assert all(item.guess == truth[item.index] for item in session.page)
    refits = session.head_rounds
    _label_until(session, 50)
    assert session.head_rounds > refits and session.ranked_at >= 50  # refitted every HEAD_EVERY labels
    assert not set(session.ranking[:50].tolist()) & session.labelled


@pytest.mark.slow
def test_features_that_carry_nothing_hand_the_answers_to_the_cnn(sample_workspace):
    truth = sample_workspace.pool.truth
    noise = np.random.default_rng(0).normal(0, 1, (len(truth), 16)).astype(np.float32)
    session = _session(sample_workspace, noise, epochs=6, start=40)
    _label_until(session, 40)
    assert session.learner == "cnn"
    last = [p for p in session.curve if "learner_cv" in p.extra][-1]
    assert last.extra["learner_cv"]["cnn"] > last.extra["learner_cv"]["head"]
    assert session.accuracy == last.accuracy  # the CNN's figure is the one shown


def test_the_learners_are_compared_from_four_labels_a_class_and_not_after_a_decisive_lead(sample_workspace):
    session = _session(sample_workspace, _features(sample_workspace.pool.truth), start=20)
    _label_until(session, 20)
    point = next(p for p in session.curve if p.extra.get("round") == 1)
    assert "learner_cv" not in point.extra and session.learner == "head"  # 2 labels a class: not compared
    assert point.accuracy is not None and point.accuracy > 0.9  # the head's figure all the same
    assert heads.worth_comparing(40, 10, 0.0) and not heads.worth_comparing(39, 10, 0.0)
    close = heads.lead({"head": 0.60, "cnn": 0.55}, 40)
    clear = heads.lead({"head": 0.95, "cnn": 0.70}, 40)
    assert close < heads.DECISIVE < clear
    assert not heads.worth_comparing(80, 10, clear) and heads.worth_comparing(80, 10, 0.0)
    assert heads.lead({"head": 1.0, "cnn": 1.0}, 40) == 0.0 and heads.lead({"head": None, "cnn": 0.9}, 40) == 0.0


def test_a_reopened_session_keeps_its_learner_and_refits_the_head(sample_workspace):
    truth = sample_workspace.pool.truth
    features = _features(truth)
    session = _session(sample_workspace, features)
    _label_until(session, 12)
    session.close()
    again = _session(sample_workspace, features)
    assert again.learner == "head" and again.due_refresh()
    again.update_if_due()
    assert again.head is not None and all(item.guess is not None for item in again.page)


@pytest.mark.slow
def test_simulated_refits_run_beside_rounds_and_repeat_exactly(tmp_path, sample_arrays):
    from tuilabel.workspace import Workspace

    def run(name: str) -> list[tuple[int, float | None, str]]:
        ws = Workspace.init(tmp_path / name, sample_arrays[0], test=sample_arrays[1])
        session = _session(ws, _features(ws.pool.truth))
        settings = SimSettings(mode="batch", labels=35, seed=0)
        drive(session, ItemLabeler(ws, settings), settings, session.clock)  # type: ignore[arg-type]
        session.close()
        ws.close()
        return [(p.labels, p.accuracy, "head" if "head_round" in p.extra else "round") for p in session.curve]

    first = run("a")
    heads_at = [n for n, _, kind in first if kind == "head"]
    assert heads_at and all(b - a >= heads.HEAD_EVERY for a, b in itertools.pairwise(heads_at))
    assert heads_at[-1] >= 30  # the ranking kept up with the labels while the CNN's rounds ran
    assert [n for n, _, _ in first] == sorted(n for n, _, _ in first)
    assert any(kind == "round" for _, _, kind in first)
    assert run("b") == first  # a function of the command and its seed


def test_the_screen_embeds_on_opening_with_progress_then_says_which_model_answers(tmp_path):
    import asyncio

    from tuilabel.models import backbones
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.batch import BatchScreen
    from tuilabel.workspace import Workspace

    from .conftest import make_pool

    pool = make_pool(n=120, n_classes=4, shape=(16, 16))
    np.savez(tmp_path / "p.npz", images=pool.images, labels=pool.truth)
    np.savez(tmp_path / "t.npz", images=pool.images[:40], labels=pool.truth[:40])
    ws = Workspace.init(tmp_path / "ws", tmp_path / "p.npz", test=tmp_path / "t.npz", backbone=backbones.DEFAULT)
    texts: list[str] = []

    async def go() -> str:
        app = TuilabelApp(ws, mode="batch", settings=BatchSettings(**TINY))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, BatchScreen)
            for _ in range(200):  # opening: the embedding runs on a worker, its progress on screen
                texts.append(screen.progress_text)
                if screen.session is not None:
                    break
                await pilot.pause(0.05)
            session = screen.session
            assert session is not None and session.features is not None
            for _ in range(10):
                await pilot.press(str(int(pool.truth[session.page[session.focus].index])))
            for _ in range(300):  # the round and the head's refit run on workers
                await pilot.pause(0.1)
                if session.round >= 1 and not session.updating and not session.refreshing:
                    break
            status = str(screen.query_one("#status").render())
            await pilot.press("s")  # the ▶ image's look-alikes, all selected
            await pilot.pause()
            assert session.alike is not None
            captions = [str(tile.caption.render()) for tile in screen.tiles]
            assert sum("◆ in" in c for c in captions) == len(session.page)
            assert "look-alikes" in str(screen.query_one("#message").render())
            await pilot.press("right", "space")  # the second one left out
            await pilot.pause()
            assert "◇ out" in str(screen.tiles[1].caption.render())
            before = len(ws.store.current())
            chosen = sum(1 for item in session.page if item.selected)
            await pilot.press("1")
            await pilot.pause()
            assert session.alike is None and len(ws.store.current()) == before + chosen
            await pilot.press("s", "escape")  # Esc leaves the look-alikes, not the screen
            await pilot.pause()
            assert session.alike is None and app.screen is screen
            await pilot.press("q")
        return status

    status = asyncio.run(go())
    assert any("embedding" in t for t in texts)
    assert "(pretrained)" in status or "(CNN)" in status
    ws.close()


def test_look_alikes_are_labelled_with_one_key_and_undone_together(sample_workspace):
    truth = sample_workspace.pool.truth
    session = _session(sample_workspace, _features(truth), start=40)
    source = session.page[session.focus]
    session.handle(Action("similar"))
    assert session.alike is source and session.page[0] is source and len(session.page) == session.page_size
    assert all(item.selected for item in session.page)
    # separable features: the nearest images are of the source's class
    assert [truth[item.index] for item in session.page] == [truth[source.index]] * len(session.page)
    session.handle(Action("next"))
    dropped = session.page[session.focus]
    session.handle(Action("toggle"))  # space: this one is left out
    assert dropped.selected is False
    chosen = [item.index for item in session.page if item.selected]
    before = session.classified
    session.handle(Action("label", int(truth[source.index])))
    assert session.alike is None and session.classified == before + len(chosen)
    stored = sample_workspace.store.current()
    assert all(stored[str(sample_workspace.pool.ids[i])][0] == truth[source.index] for i in chosen)
    assert str(sample_workspace.pool.ids[dropped.index]) not in stored
    assert source.answered and session.page[session.focus] is not source  # back on the ranked page, moved on
    session.handle(Action("undo"))  # one undo: the whole look-alike page
    assert session.classified == before and not source.answered
    current = sample_workspace.store.current()
    assert not any(str(sample_workspace.pool.ids[i]) in current for i in chosen)


def test_look_alikes_need_a_backbone_and_esc_labels_nothing(sample_workspace):
    plain = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**TINY), page_size=5)
    plain.handle(Action("similar"))
    assert plain.alike is None and "backbone" in plain.message
    plain.close()
    session = _session(sample_workspace, _features(sample_workspace.pool.truth))
    page = list(session.page)
    session.handle(Action("similar"))
    session.handle(Action("leave_alike"))
    assert session.alike is None and session.page == page and session.classified == 0
