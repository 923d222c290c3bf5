from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
import torch

import tuilabel.sessions.stream as stream_module
from tuilabel.cli import main
from tuilabel.models.rbm import RBM
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.stream import StreamSession, StreamSettings


def session_for(ws, **settings):
    clock = SimClock()
    rbm = RBM.load(ws.models_dir / "rbm.npz")
    return StreamSession(ws, StreamSettings(**settings), clock=clock, rbm=rbm), clock


def play(session, clock, frames):
    for _ in range(frames):
        clock.now = session.next_frame_at
        assert session.tick() == 1


def test_frames_follow_the_clock_and_chains_restart(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False, chain_length=4)
    assert session.tick() == 0  # nothing due yet
    clock.advance(1.0)  # 6 fps: six frames are due after a second
    assert session.tick() == 6
    assert session.chains == 2 and session.frames == 7  # 4 steps per chain (one frame at start)
    assert session.view().frame.shape == (28, 28) and session.view().frame.dtype == np.uint8
    assert stream_workspace.store.n_events() == 0  # nothing labelled without an active label


def test_sticky_label_stores_frames_with_pixels_and_learns_online(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False)
    session.handle(Action("label", 3))
    play(session, clock, 12)
    frames = list(stream_workspace.store.events(samples=True))
    assert len(frames) == 12 and {f.label for f in frames} == {3}
    assert np.array_equal(frames[-1].sample, session.frame)
    assert session.view().probs[3] > 0.5  # online learning moved the bar toward the right class


def test_changing_mind_takes_back_last_five_updates(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False)
    session.handle(Action("label", 3))
    play(session, clock, 7)
    rbm = session.rbm
    after_seven = rbm.U_.clone()
    session.handle(Action("label", 5))  # a class transition: the last 5 frames were likely wrong
    assert sum(1 for _ in stream_workspace.store.events(samples=True)) == 2
    assert not torch.allclose(rbm.U_, after_seven)
    # what is left equals two updates only: replay them on a fresh copy to compare
    replay = RBM.load(stream_workspace.models_dir / "rbm.npz")
    for _, _, record in session.labelled:
        replay.U_ += record[2] * torch.outer(record[1], record[0])
        replay.d_ += record[2] * record[1]
    assert torch.allclose(rbm.U_, replay.U_, atol=1e-5)
    session.handle(Action("unsure"))  # no frame was labelled 5: nothing more to take back
    assert sum(1 for _ in stream_workspace.store.events(samples=True)) == 2
    session.handle(Action("label", 1))
    play(session, clock, 3)
    session.handle(Action("undo"))
    assert session.label is None and session.view().labelled_frames == 0


def test_autospeed_slows_unsure_frames_and_skip_sure_skips(stream_workspace, monkeypatch):
    monkeypatch.setattr(stream_module, "AUTOSPEED_AFTER", 0)
    session, clock = session_for(stream_workspace, autospeed=True)
    session.probs = np.full(10, 0.1)
    slow = session.frame_interval()
    session.probs = np.eye(10)[2]
    fast = session.frame_interval()
    assert fast == 1 / 6 and slow == 3 * fast
    sure, clock = session_for(stream_workspace, skip_sure=True, chain_length=1, autospeed=False)
    sure.rbm.d_[4] = 50.0  # the model is sure of everything: every chain start is skipped
    play(sure, clock, 3)
    assert sure.skipped_chains >= 3 * 49


def test_pause_and_step(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False)
    session.handle(Action("pause"))
    clock.advance(5)
    assert session.tick() == 0
    frames = session.frames
    session.handle(Action("step"))
    assert session.frames == frames + 1
    session.handle(Action("faster"))
    assert session.view().fps == 7.5


def test_offline_training_from_stored_frames(stream_workspace, capsys):
    session, clock = session_for(stream_workspace, autospeed=False, online=False)
    for label in (1, 7, 0):
        session.handle(Action("next_chain"))
        session.handle(Action("label", label))
        play(session, clock, 15)
    assert float(session.rbm.U_.abs().sum()) == 0  # online learning off
    session.handle(Action("train_offline"))
    assert session.update_if_due()  # a script runs the update the key asked for
    assert float(session.rbm.U_.abs().sum()) > 0
    assert main(["train", str(stream_workspace.path), "--model", "rbm-labels"]) == 0
    assert "on 35 stream frames" in capsys.readouterr().out  # 45 shown, 5 taken back at each change
    assert main(["eval", str(stream_workspace.path)]) == 0
    assert "rbm: test accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_simulate_stream_writes_online_and_offline_curve(stream_workspace, tmp_path):
    out = tmp_path / "stream.json"
    assert main(["simulate", str(stream_workspace.path), "--mode", "stream", "--seconds", "90",
                 "--set", "chain_length=10", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    curve = result["curve"]
    assert [round(p["seconds"]) for p in curve][:1] == [60] and curve[-1]["seconds"] >= 90
    assert curve[-1]["labelled_frames"] > 0 and curve[-1]["offline_accuracy"] is not None
    assert result["settings"]["options"] == {"chain_length": "10"}
    assert stream_workspace.store.n_events() == 0  # the simulation used its own store
    assert main(["simulate", str(stream_workspace.path), "--mode", "stream", "--seconds", "5",
                 "--set", "nosuch=1", "--out", str(out)]) == 2


def test_stream_screen_keys_label_frames(stream_workspace):
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.stream import StreamScreen

    async def go():
        app = TuilabelApp(stream_workspace, mode="stream")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, StreamScreen) and screen.session is not None
            await pilot.press("plus", "plus", "plus")  # faster: more frames in the wait below
            await pilot.press("4")
            deadline = time.monotonic() + 5
            while screen.session.view().labelled_frames < 6 and time.monotonic() < deadline:
                await pilot.pause(0.1)
            await pilot.press("x")
            await pilot.press("q")
        return screen.session.view().labelled_frames

    kept = asyncio.run(go())
    labels = [ev.label for ev in stream_workspace.store.events(samples=True)]
    assert kept >= 1 and len(labels) == kept and set(labels) == {4}


def test_a_chains_start_image_takes_the_label_of_its_first_frames(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False, chain_length=6, online=False,
                                 undo_on_change=0)
    session.handle(Action("next_chain"))
    play(session, clock, 1)
    start = session.start_index
    session.handle(Action("label", 4))
    play(session, clock, 5)  # steps 2-6 of this chain labelled 4
    session.handle(Action("unsure"))
    play(session, clock, 1)  # the next chain starts: the last one's start image takes 4
    assert session.start_index != start
    starts = [ev for ev in stream_workspace.store.events(("propagated",)) if ev.mode == "stream"]
    assert [(ev.item_id, ev.label) for ev in starts] == [(str(stream_workspace.pool.ids[start]), 4)]
    assert starts[0].confidence == 5 / 6
    # a chain whose first frames got two classes gives its start image nothing
    session.handle(Action("label", 1))
    play(session, clock, 2)
    session.handle(Action("label", 2))
    play(session, clock, 4)
    assert session.chains == 4 and session.starts_labelled == 1
    # both kinds are in the offline training set, frames first
    x, y = session.labelled_frames()
    assert len(y) == sum(session.per_class) + 1 and y[-1] == 4
    assert np.allclose(x[-1], stream_workspace.pool.as_float(np.array([start])).reshape(-1))


def test_no_start_labels_when_turned_off(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False, chain_length=4, label_start=False)
    session.handle(Action("label", 5))
    play(session, clock, 12)
    assert session.starts_labelled == 0
    assert not list(stream_workspace.store.events(("propagated",)))


def test_offline_retrain_runs_by_itself_and_keeps_later_online_updates(stream_workspace):
    session, clock = session_for(stream_workspace, autospeed=False, offline_every=8, label_start=False)
    session.handle(Action("label", 3))
    play(session, clock, 7)
    assert not session.due_update()
    play(session, clock, 1)
    assert session.due_update()
    job = session.snapshot()
    result = session.train(job)
    assert len(job.y) == 8 and session.compute_seconds(job, result) > 0
    assert not session.due_update()  # one at a time
    play(session, clock, 3)  # labelled while the offline fit runs
    later = [record for _, _, record in session.labelled[-3:]]
    session.apply(job, result)
    expected_U = result[0].clone()
    for h, diff, lr in later:
        expected_U += lr * torch.outer(diff, h)
    assert torch.allclose(session.rbm.U_, expected_U, atol=1e-6)
    assert all(record is None for _, _, record in session.labelled[:-3])  # baked in: undo keeps them
    session.handle(Action("undo"))
    assert torch.allclose(session.rbm.U_, result[0], atol=1e-5)  # the three later ones taken back


def test_the_seed000_preset_sets_what_was_left_at_its_default():
    seed = StreamSettings(preset="seed000")
    assert (seed.chain_length, seed.label_start, seed.offline_every) == (30, False, 0)
    mine = StreamSettings.from_options(["preset=seed000", "chain_length=12"])
    assert (mine.chain_length, mine.label_start) == (12, False)  # a value set by hand wins


def test_a_long_session_keeps_only_the_frames_undo_reaches_and_those_a_retrain_redoes(stream_workspace,
                                                                                    monkeypatch):
    """Counted all, kept few: beyond undo's reach a frame is a count, not a tuple with tensors; but
    the frames labelled while an offline retrain runs stay until it has put their updates back."""
    monkeypatch.setattr(stream_module, "UNDO_REACH", 6)
    session, clock = session_for(stream_workspace, autospeed=False, offline_every=0, label_start=False,
                                 chain_length=4)
    session.handle(Action("label", 3))
    play(session, clock, 40)
    assert session.spent == 40 == stream_workspace.store.session_counts(session.session_id)[0]
    assert 6 <= len(session.labelled) < 12
    assert session.view().labelled_frames == 40
    session.handle(Action("undo"))  # takes back the last five, from what is kept
    assert session.spent == 35 == stream_workspace.store.session_counts(session.session_id)[0]
    session.handle(Action("label", 2))
    session.handle(Action("train_offline"))
    job = session.snapshot()
    result = session.train(job)
    play(session, clock, 30)  # labelled while the retrain runs: all kept
    assert len(session.labelled) >= 30
    later = [record for event, _, record in session.labelled if event > job.last_event]
    assert len(later) == 30
    session.apply(job, result)
    expected_U = result[0].clone()
    for h, diff, lr in later:
        expected_U += lr * torch.outer(diff, h)
    assert torch.allclose(session.rbm.U_, expected_U, atol=1e-6)
    play(session, clock, 20)
    assert len(session.labelled) < 12 and session.spent == 85
