"""Classes that change on a live workspace: `tuilabel classes WS add|rename`, and every mode takes
a new class without losing what it learned."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.sessions import Action, SimClock
from tuilabel.workspace import Workspace


@pytest.fixture
def five_kinds_four_classes(tmp_path):
    """A pool of five kinds of image whose workspace knows four classes: the fifth is the surprise."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, 600)
    images = (rng.random((600, 12, 12)) * 30 + truth[:, None, None] * 50).astype(np.uint8)
    np.save(tmp_path / "images.npy", images)
    ws = Workspace.init(tmp_path / "ws", tmp_path / "images.npy", classes=["ant", "bee", "cat", "dog"],
                        backbone="none")
    ws.close()
    return tmp_path / "ws", truth


def test_classes_add_rename_and_list_with_their_history(five_kinds_four_classes, capsys):
    ws_path, _ = five_kinds_four_classes
    assert main(["classes", str(ws_path), "add", "eel", "--annotator", "ann"]) == 0
    assert "class 4 'eel' added (key 4)" in capsys.readouterr().out
    assert main(["classes", str(ws_path), "rename", "bee", "wasp", "--annotator", "bob"]) == 0
    for argv, said in [(["add", "eel"], "there is a class 'eel' already"), (["rename", "nope", "x"], "no class 'nope'"),
                       (["add"], "add takes the new class's name")]:
        assert main(["classes", str(ws_path), *argv]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1
    capsys.readouterr()
    assert main(["classes", str(ws_path)]) == 0
    out = capsys.readouterr().out
    assert "  4  eel" in out and "  1  wasp" in out
    assert "ann: added 'eel'" in out and "bob: renamed 'bee' to 'wasp'" in out
    ws = Workspace(ws_path).check()  # pool.npz keeps its four; the config's five are what every part reads
    assert ws.pool.class_names == ["ant", "wasp", "cat", "dog", "eel"] and ws.pool.n_classes == 5


def test_a_class_added_mid_session_in_batch_gets_labels_and_the_next_rounds_model_predicts_it(
        five_kinds_four_classes):
    from tuilabel.sessions.batch import BatchSession, BatchSettings

    ws_path, truth = five_kinds_four_classes
    ws = Workspace(ws_path)
    settings = BatchSettings(arch="small", epochs=8, augmentations=2, start=20, schedule="fixed", batch_size=30,
                             semi=False, augment="none", seed=0)
    session = BatchSession(ws, settings, clock=SimClock(), page_size=6)

    def answer(classes: int) -> None:
        item = session.page[session.focus]
        kind = int(truth[item.index])
        session.handle(Action("label", kind) if kind < classes else Action("unsure"))

    while session.classified < 20:
        answer(4)
    assert session.update_if_due() and session.model.n_classes_ == 4
    other = Workspace(ws_path)  # another terminal: `tuilabel classes WS add eel`
    other.add_class("eel")
    other.close()
    while session.classified < 50:  # the next key of the fifth kind is a label of the new class
        answer(5)
    assert session.pool.class_names[-1] == "eel"
    assert sum(lab == 4 for lab, _ in ws.store.current().values()) >= 3
    assert session.update_if_due() and session.model.n_classes_ == 5
    fifth = np.flatnonzero(truth == 4)
    guessed = session.model.predict(ws.pool.as_float(fifth))
    assert (guessed == 4).mean() > 0.6  # the next round's model predicts the new class
    ws.close()


def test_stream_and_clusters_models_make_room_for_a_new_class(stream_workspace, clusters_model):
    from tuilabel.models.rbm import RBM
    from tuilabel.sessions.clusters import ClustersSession, ClustersSettings
    from tuilabel.sessions.stream import StreamSession, StreamSettings

    from .conftest import CLUSTERS_TINY

    ws = stream_workspace
    session = StreamSession(ws, StreamSettings(autospeed=False), clock=SimClock(),
                            rbm=RBM.load(ws.models_dir / "rbm.npz"))
    before = session.rbm.U_.clone()
    Workspace(ws.path).add_class("ten")
    session.handle(Action("label", 10))  # the key finds the new class
    assert session.label == 10 and session.rbm.U_.shape[0] == 11
    assert np.allclose(session.rbm.U_[:10].numpy(), before.numpy())  # what it learned stays
    session.clock.now = session.next_frame_at
    session.tick()  # a labelled frame of the new class learns online
    assert session.rbm.U_[10].abs().sum() > 0
    clusters = ClustersSession(ws, ClustersSettings(**CLUSTERS_TINY), clock=SimClock(), model=clusters_model)
    assert clusters_model.n_classes_ == 11 and clusters.model.predict_proba(ws.pool.as_float()[:5]).shape == (5, 11)


def test_the_batch_screen_shows_a_class_added_from_another_terminal(five_kinds_four_classes):
    from tuilabel.tui.app import TuilabelApp
    from tuilabel.tui.batch import BatchScreen

    ws_path, _ = five_kinds_four_classes
    ws = Workspace(ws_path)

    async def go():
        app = TuilabelApp(ws, mode="batch")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BatchScreen)
            Workspace(ws_path).add_class("eel")
            screen.retry_store()  # what its 3-second timer runs
            await pilot.pause()
            assert "eel" in screen.session.message
            await pilot.press("4")
            await pilot.pause()
            assert "eel" in app.screen.session.message

    asyncio.run(go())
    assert 4 in {lab for lab, _ in ws.store.current().values()}


def test_a_teams_other_copy_of_the_workspace_follows_a_class_added_on_one_machine(five_kinds_four_classes, tmp_path):
    """Annotators on several machines each have the workspace's folder and share its label store: a
    class added on one machine reaches the others through the store, at their next look."""
    import shutil

    ws_path, _ = five_kinds_four_classes
    copy = tmp_path / "bobs-copy"
    shutil.copytree(ws_path, copy)
    (copy / "labels.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (copy / f"labels.sqlite{suffix}").unlink(missing_ok=True)
    config = copy / "tuilabel.toml"  # both copies point at the one store, as a team's PostgreSQL
    config.write_text(config.read_text() + f'\n[store]\nlocation = "{ws_path / "labels.sqlite"}"\n')
    bob = Workspace(copy).check()
    assert bob.pool.n_classes == 4
    Workspace(ws_path).add_class("eel")
    assert bob.reload_classes() and bob.pool.class_names[-1] == "eel"  # what the screens' timer runs
    assert "eel" in (copy / "tuilabel.toml").read_text()
    assert Workspace(copy).check().pool.n_classes == 5


def test_merging_two_classes_moves_a_persons_labels_in_one_transaction_and_keeps_the_log(
        five_kinds_four_classes, capsys):
    ws_path, _ = five_kinds_four_classes
    ws = Workspace(ws_path)
    ids = ws.pool.ids.tolist()
    session = ws.store.start_session("browse", "ann")
    ws.store.add_many(session, [(ids[i], i % 4, 1.0) for i in range(40)])
    ws.close()
    assert main(["classes", str(ws_path), "merge", "bee", "ant", "--annotator", "kim"]) == 0
    assert "10 labels of 'bee' are now 'ant'" in capsys.readouterr().out
    ws = Workspace(ws_path)
    current = ws.store.current()
    assert all(current[ids[i]][0] == (0 if i % 4 in (0, 1) else i % 4) for i in range(40))
    assert ws.store.n_events() == 50  # ten new events; the ten old ones stay in the log
    assert ws.class_names == ["ant", "bee", "cat", "dog"]  # bee stays, empty, at its index
    ws.close()
    assert main(["classes", str(ws_path)]) == 0
    assert "kim: merged 'bee' into 'ant' (10 labels)" in capsys.readouterr().out
    assert main(["classes", str(ws_path), "merge", "ant", "ant"]) == 2
