"""Labels in (`tuilabel import`) and out (`export --format parquet|hf-imagefolder`), each read back
with the library people load them with."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.workspace import Workspace

from .test_ingest import _folder_of_photos


@pytest.fixture
def pool_of_1200(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 1200)
    images = (rng.random((1200, 12, 12)) * 60 + truth[:, None, None] * 45).astype(np.uint8)
    np.savez(tmp_path / "pool.npz", images=images, labels=truth)
    ws = Workspace.init(tmp_path / "ws", tmp_path / "pool.npz", classes=["ant", "bee", "cat", "dog"], backbone="none")
    ws.close()
    return tmp_path / "ws", truth


def _write_csv(path, rows, header=("item_id", "class", "annotator")):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_csv_of_1000_labels_imports_and_its_parquet_export_loads_in_datasets_with_the_same_rows(
        pool_of_1200, tmp_path, capsys):
    ws_path, truth = pool_of_1200
    ws = Workspace(ws_path)
    ids, names = ws.pool.ids.tolist(), ws.class_names
    ws.close()
    rows = [(ids[i], names[truth[i]] if i % 2 else str(truth[i]), "ann" if i < 600 else "bob") for i in range(1000)]
    _write_csv(tmp_path / "labels.csv", rows)
    assert main(["import", str(ws_path), str(tmp_path / "labels.csv")]) == 0
    assert "imported 1000 labels" in capsys.readouterr().out
    ws = Workspace(ws_path)
    current = ws.store.current()
    assert len(current) == 1000 and all(current[ids[i]][0] == truth[i] for i in range(1000))
    assert ws.store.labelled_by("ann") == set(ids[:600]) and ws.store.labelled_by("bob") == set(ids[600:1000])
    ws.close()

    out = tmp_path / "labels.parquet"
    assert main(["export", str(ws_path), "--format", "parquet", "--out", str(out)]) == 0
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset("parquet", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == 1000
    by_item = {r["item_id"]: r for r in loaded}
    assert {item: (r["label"], r["class_name"], r["annotator"]) for item, r in by_item.items()} == {
        ids[i]: (int(truth[i]), names[truth[i]], "ann" if i < 600 else "bob") for i in range(1000)}
    first = by_item[ids[0]]
    assert first["source"] == "human" and first["mode"] == "import" and first["kind"] == "item"
    assert first["time"].year >= 2024 and first["pixels"] is None  # a timestamp; pool items carry no pixels
    # the same rows as the CSV export
    assert main(["export", str(ws_path), "--format", "csv", "--out", str(tmp_path / "l.csv")]) == 0
    with (tmp_path / "l.csv").open() as f:
        csv_rows = {r["item_id"]: (int(r["label"]), r["annotator"]) for r in csv.DictReader(f)}
    assert csv_rows == {item: (r["label"], r["annotator"]) for item, r in by_item.items()}


def test_unknown_items_and_classes_are_counted_listed_once_and_nothing_is_half_imported(pool_of_1200, tmp_path,
                                                                                        capsys):
    ws_path, _ = pool_of_1200
    ws = Workspace(ws_path)
    ids = ws.pool.ids.tolist()
    ws.close()
    rows = [(ids[i], "ant", "") for i in range(20)] + [("nope-1", "ant", ""), ("nope-2", "bee", ""),
                                                       (ids[30], "zebra", ""), (ids[31], "zebra", "")]
    _write_csv(tmp_path / "labels.csv", rows)
    assert main(["import", str(ws_path), str(tmp_path / "labels.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "labels.csv" in err and "nothing imported" in err
    assert "2 rows name items" in err and "nope-1" in err and "'zebra' ×2" in err
    assert len(Workspace(ws_path).store.current()) == 0
    assert main(["import", str(ws_path), str(tmp_path / "labels.csv"), "--skip-unknown", "--annotator", "eve"]) == 0
    out = capsys.readouterr().out
    assert "imported 20 labels" in out and "left out 4 rows" in out
    ws = Workspace(ws_path)
    assert ws.store.labelled_by("eve") == set(ids[:20])
    ws.close()
    # no header row that names an item, a JSON lines file that is not JSON: one line each
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    assert main(["import", str(ws_path), str(tmp_path / "bad.csv")]) == 2
    assert "has no item column" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"item_id": "a", "class": "ant"}\nnot json\n')
    assert main(["import", str(ws_path), str(tmp_path / "bad.jsonl")]) == 2
    assert "line 2 is not JSON" in capsys.readouterr().err


def test_a_folder_pool_takes_labels_by_path_or_file_name_and_exports_a_hf_imagefolder(tmp_path, capsys):
    photos = _folder_of_photos(tmp_path / "photos", 6)
    ws_path = tmp_path / "ws"
    assert main(["init", str(ws_path), "--data", str(photos), "--backbone", "none"]) == 0
    ws = Workspace(ws_path)
    ids, names = ws.pool.ids.tolist(), ws.class_names
    ws.close()
    lines = [{"path": str((photos / ids[0]).resolve()), "label": names[1]},  # absolute path
             {"file": ids[1], "label": names[0], "confidence": 0.7},  # relative to the originals' folder
             {"image": ids[2].split("/")[-1], "label": names[1]}]  # a file name only one original has
    (tmp_path / "l.jsonl").write_text("\n".join(json.dumps({"item_id": next(iter(r.values())), "class": r["label"],
                                                            **({"confidence": r["confidence"]} if "confidence" in r
                                                               else {})}) for r in lines) + "\n")
    assert main(["import", str(ws_path), str(tmp_path / "l.jsonl"), "--annotator", "kim"]) == 0
    ws = Workspace(ws_path)
    current = ws.store.current()
    assert {item: lab for item, (lab, _) in current.items()} == {ids[0]: 1, ids[1]: 0, ids[2]: 1}
    assert current[ids[1]][1] == pytest.approx(0.7)
    ws.close()

    out = tmp_path / "hf"
    assert main(["export", str(ws_path), "--format", "hf-imagefolder", "--out", str(out)]) == 0
    assert "3 original files copied" in capsys.readouterr().out
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset("imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path / "c"))
    assert loaded.num_rows == 3
    rows = {r["item_id"]: r for r in loaded}
    assert {item: r["class_name"] for item, r in rows.items()} == {ids[0]: names[1], ids[1]: names[0],
                                                                   ids[2]: names[1]}
    image = rows[ids[0]]["image"]
    assert image.size == (320, 240) and rows[ids[0]]["annotator"] == "kim"  # the original file, not the 64x48 copy


def test_a_models_predictions_come_in_and_review_judges_the_labels_by_them(sample_workspace, tmp_path, capsys):
    """`import --as predictions` keeps a model's classes (or probabilities) beside the labels, never
    in the store; review with judge=predictions ranks the labels they disagree with first, training
    nothing."""
    from tuilabel.sessions import SimClock
    from tuilabel.sessions.review import ReviewSession, ReviewSettings

    ws = sample_workspace
    pool, truth = ws.pool, ws.pool.truth
    ids = pool.ids.tolist()
    session = ws.store.start_session("browse", "ann")
    wrong = set(range(0, 80, 8))  # ten deliberate mistakes among 80 labels
    ws.store.add_many(session, [(ids[i], int((truth[i] + 1) % 10) if i in wrong else int(truth[i]), 1.0)
                                for i in range(80)])
    # a model that agrees with the truth: its class and confidence for half, probabilities for the rest
    _write_csv(tmp_path / "pred.csv", [(ids[i], str(truth[i]), "0.9") for i in range(0, 600, 2)],
               header=("item_id", "class", "confidence"))
    assert main(["import", str(ws.path), str(tmp_path / "pred.csv"), "--as", "predictions"]) == 0
    assert "predictions of 300 images" in capsys.readouterr().out
    with (tmp_path / "probs.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", *[f"p_{c}" for c in ws.class_names]])
        for i in range(600):
            writer.writerow([ids[i], *[0.82 if c == truth[i] else 0.02 for c in range(10)]])
    assert main(["import", str(ws.path), str(tmp_path / "probs.csv"), "--as", "predictions"]) == 0
    assert ws.store.n_events() == 80  # the store holds people's labels only
    review = ReviewSession(ws, ReviewSettings(judge="predictions"), clock=SimClock())
    review.update()
    assert review.judge == "predictions" and review.curve[-1].extra.get("judged", 80) == 80
    assert set(review.queue[:10]) == wrong  # every mistake first, from the model's word alone
    assert main(["label", str(ws.path), "--mode", "review", "--set", "judge=nosuch"]) == 2
    (ws.path / "predictions.npz").unlink()
    with pytest.raises(Exception, match="no predictions yet"):
        ReviewSession(ws, ReviewSettings(judge="predictions"), clock=SimClock())


def test_batch_starts_from_imported_predictions_their_least_sure_images_first(sample_workspace, tmp_path, capsys):
    from tuilabel.errors import TuilabelError
    from tuilabel.sessions import SimClock
    from tuilabel.sessions.batch import BatchSession, BatchSettings

    ws = sample_workspace
    ids, truth = ws.pool.ids.tolist(), ws.pool.truth
    unsure = set(range(5, 600, 20))  # 30 images the model hesitates on
    _write_csv(tmp_path / "pred.csv", [(ids[i], str(truth[i]), "0.35" if i in unsure else "0.95") for i in range(600)],
               header=("item_id", "class", "confidence"))
    assert main(["import", str(ws.path), str(tmp_path / "pred.csv"), "--as", "predictions"]) == 0
    session = BatchSession(ws, BatchSettings(predictions=True), clock=SimClock(), page_size=12)
    page = session.view().page
    assert {it.index for it in page} <= unsure and all(it.guess == truth[it.index] for it in page)
    assert "least sure" in session.message
    plain = BatchSession(ws, BatchSettings(), clock=SimClock(), page_size=12)
    assert not {it.index for it in plain.view().page} <= unsure  # without the setting: random order
    (ws.path / "predictions.npz").unlink()
    with pytest.raises(TuilabelError, match="no predictions yet"):
        BatchSession(ws, BatchSettings(predictions=True), clock=SimClock())
