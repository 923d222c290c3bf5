"""A team on one pool: concurrent annotators get different items, overlap gives each item to N of
them, the store migrates between engines; on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuilabel.agreement import store_agreement
from tuilabel.cli import main
from tuilabel.sessions.base import Action
from tuilabel.sessions.batch import BatchSession, BatchSettings
from tuilabel.sessions.browse import BrowseSession, BrowseSettings
from tuilabel.workspace import Workspace


def team_workspace(tmp_path, sample_arrays, loc) -> Path:
    store = loc if loc.startswith("postgresql") else None
    Workspace.init(tmp_path / "ws", sample_arrays[0], test=sample_arrays[1], store=store).close()
    return tmp_path / "ws"


def test_two_batch_annotators_get_different_pages_and_overlap_shares_them(tmp_path, sample_arrays, loc):
    path = team_workspace(tmp_path, sample_arrays, loc)
    ws_a, ws_b = Workspace(path), Workspace(path)  # one connection each, as two machines have
    # the same seed: the same random order before a model, so without leases they would collide
    ann = BatchSession(ws_a, BatchSettings(start=1000), annotator="ann", page_size=6)
    bob = BatchSession(ws_b, BatchSettings(start=1000), annotator="bob", page_size=6)
    page_a = [it.item_id for it in ann.page]
    page_b = [it.item_id for it in bob.page]
    assert len(page_a) == len(page_b) == 6 and not set(page_a) & set(page_b)
    truth = {str(i): int(t) for i, t in zip(ws_a.pool.ids, ws_a.pool.truth)}
    for session, page in ((ann, page_a), (bob, page_b)):
        for item in page:
            assert session.shown_item() is not None
            session.handle(Action("label", truth[item]))
    assert not {it.item_id for it in ann.page} & {it.item_id for it in bob.page}  # the next pages too
    ann.close()
    bob.close()
    by = {}
    for ev in ws_a.store.events(("human",)):
        by.setdefault(ev.annotator, set()).add(ev.item_id)
    assert by == {"ann": set(page_a), "bob": set(page_b)}
    # overlap 2: cy is handed the items ann and bob labelled (one opinion each), ann never her own
    cy = BatchSession(Workspace(path), BatchSettings(start=1000, overlap=2), annotator="cy", page_size=6)
    assert [it.item_id for it in cy.page] == page_a
    for item in page_a:
        cy.handle(Action("label", truth[item]))
    assert {it.item_id for it in cy.page} == set(page_b)
    again = BatchSession(Workspace(path), BatchSettings(start=1000, overlap=2), annotator="ann", page_size=6)
    assert not {it.item_id for it in again.page} & set(page_a)  # two opinions already, one of them hers
    pairs = store_agreement(ws_a.store.pair_counts())
    assert [(a, b, n) for a, b, n, _ in pairs] == [("ann", "cy", 6)] and pairs[0][3] == 1.0


def test_two_browse_annotators_never_see_the_same_item(tmp_path, sample_arrays, loc):
    path = team_workspace(tmp_path, sample_arrays, loc)
    ann = BrowseSession(Workspace(path), BrowseSettings(seed=3), annotator="ann")
    bob = BrowseSession(Workspace(path), BrowseSettings(seed=3), annotator="bob")  # the same order
    labelled: dict[str, set] = {"ann": set(), "bob": set()}
    for step in range(20):
        a, b = ann.view().item_id, bob.view().item_id
        # never the same image at once, never one the other labelled (a skipped one goes back to the pool)
        assert a != b and a not in labelled["bob"] and b not in labelled["ann"]
        labeller, skipper = (ann, bob) if step % 3 else (bob, ann)
        labelled["ann" if labeller is ann else "bob"].add(labeller.view().item_id)
        labeller.handle(Action("label", 1))
        skipper.handle(Action("skip"))
    assert {ev.item_id for ev in ann.store.events(("human",))} == labelled["ann"] | labelled["bob"]
    ann.close()
    assert bob.store.leases() and all(who == "bob" for _, _, who, _ in bob.store.leases())


def test_store_migrate_round_trip_from_the_command_line(tmp_path, sample_arrays, loc, capsys):
    if not loc.startswith("postgresql"):
        loc = str(tmp_path / "elsewhere.sqlite")
    path = team_workspace(tmp_path, sample_arrays, str(tmp_path / "unused.sqlite"))
    ws = Workspace(path)
    session = BrowseSession(ws, BrowseSettings(seed=1), annotator="ann")
    for k in range(12):
        session.handle(Action("label" if k % 4 else "unsure", k % 10) if k % 4 else Action("unsure"))
    session.handle(Action("undo"))
    before = ws.store.fingerprint()
    ws.close()
    assert main(["store", "migrate", str(path), "--to", loc]) == 0
    assert "identical" in capsys.readouterr().out
    moved = Workspace(path)
    assert moved.store_location == loc and moved.store.fingerprint() == before
    assert main(["status", str(path)]) == 0
    out = capsys.readouterr().out
    assert ("postgresql" if loc.startswith("postgresql") else "sqlite") in out
    assert main(["store", "migrate", str(path), "--to", str(tmp_path / "back.sqlite")]) == 0
    assert Workspace(path).store.fingerprint() == before
    # a store that is not empty is never overwritten, and the workspace keeps its store
    assert main(["store", "migrate", str(path), "--to", str(path / "labels.sqlite")]) == 2
    assert "already holds" in capsys.readouterr().err
    assert Workspace(path).store_location == str((tmp_path / "back.sqlite").resolve())


def test_a_store_of_another_workspace_is_refused(tmp_path, sample_arrays, capsys):
    from tests import pg

    if pg.server_url() is None:
        pytest.skip(f"no PostgreSQL server could start here: {pg.why_not()}")
    url = pg.fresh_database()
    team_workspace(tmp_path, sample_arrays, url)
    assert main(["init", str(tmp_path / "other"), "--data", str(sample_arrays[0]), "--store", url]) == 2
    assert "another workspace" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()  # refused before anything was written
    # a copy of the workspace folder whose id was changed by hand cannot write into the store
    other = tmp_path / "copy"
    other.mkdir()
    (other / "tuilabel.toml").write_text((tmp_path / "ws" / "tuilabel.toml").read_text().replace(
        'id = "', 'id = "0'))
    for name in ("pool.npz", "pool-images.npy", "test.npz", "test-images.npy"):
        (other / name).write_bytes((tmp_path / "ws" / name).read_bytes())
    assert main(["status", str(other)]) == 2
    assert "belongs to another workspace" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.tmux
def test_two_label_processes_on_postgresql_get_different_batch_items(tmp_path, sample_arrays):
    """The real `tuilabel label --mode batch` twice, as ann and bob, in tmux, on one PostgreSQL store."""
    import shutil

    from tests import pg
    from tests.test_e2e_tmux import Tmux

    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    if pg.server_url() is None:
        pytest.skip(f"no PostgreSQL server could start here: {pg.why_not()}")
    path = team_workspace(tmp_path, sample_arrays, pg.fresh_database())
    exe = Path(sys.executable).with_name("tuilabel")
    panes = []
    try:
        for who in ("ann", "bob"):
            command = (f"{exe if exe.exists() else 'tuilabel'} label {path} --mode batch --annotator {who}"
                       " --set start=1000")
            panes.append(Tmux(f"tuilabel-team-{who}-{os.getpid()}", command, env={"TERM": "xterm-256color"}))
        for pane in panes:
            pane.wait_for(r"Unsure")
        for k in range(8):
            for pane in panes:
                pane.keys(str(k % 10), pause=0.15)
        for pane in panes:
            pane.wait_for(r"labelled 8\b")
            pane.keys("q")
            pane.wait_for(r"EXIT=0")
    finally:
        for pane in panes:
            pane.close()
    store = Workspace(path).store
    by: dict[str, set] = {}
    for ev in store.events(("human",)):
        by.setdefault(ev.annotator, set()).add(ev.item_id)
    assert len(by["ann"]) == len(by["bob"]) == 8 and not by["ann"] & by["bob"]
    assert store.leases() == []  # both gave their pages back when they quit
    out = tmp_path / "labels.csv"
    command = [str(exe) if exe.exists() else "tuilabel", "export", str(path), "--format", "csv", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    rows = list(csv.DictReader(out.open()))
    assert {r["annotator"] for r in rows} == {"ann", "bob"} and len(rows) == 16


def test_review_puts_the_disputed_label_of_the_least_reliable_annotator_first(sample_workspace):
    """Equal disputes: the one whose current label comes from the annotator with the lowest kappa
    (against the others, from the store's pair tables) is reviewed first."""
    from tuilabel.sessions.review import ReviewSession, ReviewSettings

    ws = sample_workspace
    store = ws.store
    ids = [str(i) for i in ws.pool.ids[:32]]
    truth = [int(t) for t in ws.pool.truth[:32]]
    ann, bob, cy = (store.start_session("browse", who) for who in ("ann", "bob", "cy"))
    store.add_many(cy, [(i, (t + 1 + k % 3) % 10, 1.0) for k, (i, t) in enumerate(zip(ids[:30], truth))])
    store.add_many(ann, [(i, t, 1.0) for i, t in zip(ids[:30], truth)])  # ann and bob agree on everything
    store.add_many(bob, [(i, t, 1.0) for i, t in zip(ids[:30], truth)])
    store.add(cy, ids[30], 1)
    store.add(ann, ids[30], 2)  # the current label of item 30 is ann's, disputed by cy
    store.add(ann, ids[31], 3)
    store.add(cy, ids[31], 4)  # the current label of item 31 is cy's, disputed by ann
    review = ReviewSession(ws, ReviewSettings(), annotator="dee")
    assert review.reliability["cy"] < 0.1 < 0.3 < review.reliability["ann"]
    assert review.disagreement(30)[0] == review.disagreement(31)[0] == 1.0
    assert review.queue[:2] == [31, 30]
