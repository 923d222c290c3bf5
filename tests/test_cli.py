from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from tuilabel.cli import main
from tuilabel.data import load_pool
from tuilabel.workspace import Workspace

from .test_data import _bad_inputs


def test_bad_inputs_exit_2_with_one_line(tmp_path, small_pool, capsys):
    for name, (path, _) in _bad_inputs(tmp_path, small_pool).items():
        code = main(["init", str(tmp_path / f"ws-{name.replace(' ', '-')}"), "--data", str(path)])
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert err.count("\n") == 0 and str(path) in err, (name, err)
        assert not (tmp_path / f"ws-{name.replace(' ', '-')}" / "tuilabel.toml").exists()


@pytest.mark.slow
def test_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tuilabel.cli", "init", str(tmp_path / "ws"), "--data", str(tmp_path / "x.npz")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"tuilabel: error: {tmp_path / 'x.npz'}: no such file or folder"


def test_commands_on_a_non_workspace_exit_2(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "not a tuilabel workspace" in capsys.readouterr().err
    ws = tmp_path / "ws"
    np.savez(tmp_path / "d.npz", images=np.zeros((3, 4, 4), np.uint8), labels=[0, 1, 0])
    assert main(["init", str(ws), "--data", str(tmp_path / "d.npz")]) == 0
    assert main(["init", str(ws), "--data", str(tmp_path / "d.npz")]) == 2  # no clobbering


def test_init_status_export_round_trip(sample_workspace, tmp_path, capsys):
    ws = sample_workspace
    pool = ws.pool
    s = ws.store.start_session("browse", "tester")
    chosen = np.arange(0, 60, 3)
    for i in chosen:
        ws.store.add(s, pool.ids[i], int(pool.truth[i]))
    ws.store.add(s, pool.ids[1], None)  # unsure: exported as such in csv, skipped in imagefolder
    frame = pool.images[5]
    ws.store.add(s, None, int(pool.truth[5]), sample=frame)  # a generated sample, stream-style
    ws.store.add_many(s, [(pool.ids[2], 4, 0.6)], source="pseudo")

    assert main(["status", str(ws.path)]) == 0
    out = capsys.readouterr().out
    assert "human-labelled items: 21 of 600" in out and "pseudo" in out

    assert main(["export", str(ws.path), "--format", "csv", "--out", str(tmp_path / "l.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "l.csv").read_text().splitlines()))
    assert len(rows) == 22 and {r["source"] for r in rows} == {"human"}  # pseudo never mixed in
    assert main(["export", str(ws.path), "--format", "jsonl", "--out", str(tmp_path / "l.jsonl"),
                 "--sources", "human,pseudo"]) == 0
    records = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert {r["source"] for r in records} == {"human", "pseudo"}

    out_dir = tmp_path / "folder"
    assert main(["export", str(ws.path), "--format", "imagefolder", "--out", str(out_dir)]) == 0
    back = load_pool(out_dir)  # generated samples sit apart, in _generated/, never in a class folder
    assert len(back) == 20
    for item, img, label in zip(back.ids, back.images, back.truth):
        name = back.class_names[label]
        i = pool.index_of(item.split("/")[1].removesuffix(".png"))
        assert (img == pool.images[i]).all() and name == str(pool.truth[i])
    (sample_png,) = (out_dir / "_generated" / "browse").rglob("sample-*.png")
    assert sample_png.parent.name == str(pool.truth[5])
    assert (load_pool(out_dir / "_generated" / "browse").images[0] == frame).all()


def test_imagefolder_never_writes_outside_out(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 4, 4), np.uint8), labels=[0, 1],
             ids=np.array(["../../escape", "/abs/x"]), class_names=np.array(["../up", "ok"]))
    ws = Workspace.init(tmp_path / "ws", tmp_path / "d.npz")
    s = ws.store.start_session("browse")
    ws.store.add(s, "../../escape", 0)
    ws.store.add(s, "/abs/x", 1)
    out = tmp_path / "a" / "b" / "out"
    assert main(["export", str(ws.path), "--format", "imagefolder", "--out", str(out)]) == 0
    written = [p for p in tmp_path.rglob("*.png")]
    assert len(written) == 2 and all(out in p.parents for p in written)


@pytest.mark.parametrize("argv", [["export"], ["init", "ws"], ["nosuch"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_command_progress_keeps_to_one_line_of_80_columns(monkeypatch):
    import io
    import re

    from tuilabel.progress import CommandProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    monkeypatch.setattr("sys.stderr", out)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")
    with CommandProgress("train cnn") as progress:
        progress(0.5, "round 1: training on 4000 labels and 3000 sure guesses, epoch 20/40, " + "long " * 20)
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in re.split(r"[\r\n]", out.getvalue())]
    shown = [line for line in lines if line.strip()]
    assert shown and all(len(line) <= 80 for line in shown)
    assert "train cnn" in shown[-1] and "━" in shown[-1] and "…" in shown[-1]  # the text gives way, not the bar
