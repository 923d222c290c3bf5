from __future__ import annotations

import json

from tuilabel.cli import main
from tuilabel.sessions import Action, SimClock
from tuilabel.sessions.browse import BrowseSession, BrowseSettings


def test_keys_in_labels_in_store_undo_redo(sample_workspace):
    session = BrowseSession(sample_workspace, BrowseSettings(seed=3), clock=SimClock())
    first = session.view()
    session.handle(Action("label", 4))
    second = session.view()
    assert second.item_id != first.item_id and second.labels_spent == 1
    assert sample_workspace.store.current() == {first.item_id: (4, 1.0)}
    session.handle(Action("unsure"))
    session.handle(Action("undo"))
    assert session.view().item_id == second.item_id
    session.handle(Action("undo"))
    assert session.view().item_id == first.item_id and sample_workspace.store.current() == {}
    session.handle(Action("redo"))
    assert sample_workspace.store.current() == {first.item_id: (4, 1.0)}
    assert session.view().item_id == second.item_id
    session.handle(Action("label", 99))
    assert "no class 99" in session.view().message


def test_resumes_past_labelled_items(sample_workspace):
    s1 = BrowseSession(sample_workspace, BrowseSettings(seed=1))
    seen = []
    for _ in range(5):
        seen.append(s1.view().item_id)
        s1.handle(Action("label", 0))
    s1.close()  # gives back the item it was showing
    s2 = BrowseSession(sample_workspace, BrowseSettings(seed=1))
    assert s2.view().total == len(sample_workspace.pool) - 5
    assert s2.view().item_id not in seen


def test_model_updates_make_a_rising_curve(sample_workspace):
    clock = SimClock()
    session = BrowseSession(sample_workspace, BrowseSettings(seed=0), clock=clock)
    truth = sample_workspace.pool.truth
    while session.labels_spent < 160:
        clock.advance(2.0)
        session.handle(Action("label", int(truth[session.current_index])))
        if session.due_update():
            session.update()
    labels = [p.labels for p in session.curve]
    assert labels == [10, 20, 40, 80, 160]
    assert session.curve[-1].seconds == 320.0
    assert session.curve[-1].accuracy > session.curve[0].accuracy + 0.2
    assert session.view().guess is not None


def test_a_reopened_browse_refits_at_once_and_keeps_its_curve(sample_workspace):
    from tuilabel.report import gather

    truth = sample_workspace.pool.truth
    first = BrowseSession(sample_workspace, BrowseSettings(seed=0), clock=SimClock())
    while first.labels_spent < 20:
        first.handle(Action("label", int(truth[first.current_index])))
        first.update_if_due()
    first.close()
    again = BrowseSession(sample_workspace, BrowseSettings(seed=1), clock=SimClock())
    assert [p.labels for p in again.curve] == [10, 20]  # the saved curve
    assert again.model is None and again.due_update()  # refitted on the 20 labels before any new one
    again.update_if_due()
    assert again.model is not None and again.view().guess is not None and not again.due_update()
    assert [p.labels for p in again.curve] == [10, 20]  # the same labels: no second point
    while again.labels_spent < 10:
        again.handle(Action("label", int(truth[again.current_index])))
        again.update_if_due()
    assert [p.labels for p in again.curve] == [10, 20, 30]  # x: every human label the model learnt from
    assert [n for n, _, _ in gather(sample_workspace, confusion=False).curves["browse"]] == [10, 20, 30]


def test_simulate_cli_writes_curve(sample_workspace, tmp_path, capsys):
    out = tmp_path / "curve.json"
    code = main(["simulate", str(sample_workspace.path), "--mode", "browse", "--labels", "80",
                 "--seed", "2", "--error-rate", "0.1", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["settings"]["error_rate"] == 0.1 and result["settings"]["labels"] == 80
    assert [p["labels"] for p in result["curve"]] == [10, 20, 40, 80]
    assert all(0 <= p["accuracy"] <= 1 for p in result["curve"])
    assert sample_workspace.store.current() == {}  # simulated labels never touch the real store
    assert main(["simulate", str(sample_workspace.path), "--mode", "nosuch", "--labels", "5",
                 "--out", str(out)]) == 2
