"""Near-duplicates: copies of one picture are grouped after `embed`, counted by `status` and listed
by `report`; look-alike pictures that are not copies stay apart."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from tuilabel import neardup
from tuilabel.cli import main
from tuilabel.models import backbones

DATA = Path(__file__).resolve().parent / "data"


def test_copies_are_grouped_across_tiles_and_look_alikes_are_not(monkeypatch):
    monkeypatch.setattr(neardup, "TILE", 8)  # groups that cross tiles
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 20, 20, 3), dtype=np.uint8)
    features = rng.normal(size=(30, 64)).astype(np.float16)
    for copy, source in ((3, 25), (17, 25), (9, 10)):  # 3 and 17 copies of 25; 9 of 10
        images[copy] = np.clip(images[source].astype(int) * 1.2 + 5, 0, 255).astype(np.uint8)
        features[copy] = features[source] + rng.normal(scale=0.05, size=64).astype(np.float16)
    features[20] = features[21]  # the same features, other pixels: a look-alike, not a copy
    g = neardup.groups(features, images)
    assert g[3] == g[17] == g[25] >= 0 and g[9] == g[10] >= 0 and g[9] != g[3]
    assert g[20] == g[21] == -1
    assert neardup.summary(g) == (2, 5)
    assert g[3] == 0  # numbered in order of each group's first item


def _folder(root: Path) -> Path:
    """Six tiles of two photographs, and three changed copies of one tile."""
    for name in ("cat", "coffee"):
        photo = Image.open(DATA / f"{name}.jpg").convert("RGB")
        w, h = photo.size
        (root / name).mkdir(parents=True)
        for i in range(3):
            photo.crop((i * w // 3, 0, (i + 1) * w // 3, h)).save(root / name / f"{name}-{i}.jpg", quality=92)
    source = Image.open(root / "cat" / "cat-1.jpg")
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", quality=40)
    Image.open(io.BytesIO(buffer.getvalue())).save(root / "cat" / "copy-saved-again.jpg")
    ImageEnhance.Brightness(source).enhance(1.2).save(root / "cat" / "copy-brighter.jpg")
    source.resize((source.width * 3 // 4, source.height * 3 // 4)).save(root / "cat" / "copy-smaller.jpg")
    return root


def test_embed_finds_the_copies_status_counts_them_and_report_lists_them(tmp_path, capsys):
    folder = _folder(tmp_path / "photos")
    ws = str(tmp_path / "ws")
    assert main(["init", ws, "--data", str(folder), "--backbone", backbones.DEFAULT]) == 0
    assert main(["status", ws]) == 0
    assert "near-duplicates" not in capsys.readouterr().out  # nothing embedded yet: nothing to say
    assert main(["embed", ws]) == 0
    assert "near-duplicates: 1 groups, 4 images" in capsys.readouterr().out
    assert main(["status", ws]) == 0
    assert "near-duplicates: 1 groups, 4 images (tuilabel report lists them)" in capsys.readouterr().out
    assert main(["report", ws]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  4: "))
    assert sorted(line[5:].split(", ")) == ["cat/cat-1.jpg", "cat/copy-brighter.jpg", "cat/copy-saved-again.jpg",
                                            "cat/copy-smaller.jpg"]


def test_groups_found_for_a_smaller_pool_are_not_shown_for_a_grown_one(tmp_path, capsys):
    folder = _folder(tmp_path / "photos")
    ws = str(tmp_path / "ws")
    assert main(["init", ws, "--data", str(folder), "--backbone", backbones.DEFAULT]) == 0
    assert main(["embed", ws]) == 0
    Image.open(DATA / "cat.jpg").save(folder / "cat" / "whole.jpg")
    assert main(["init", ws, "--data", str(folder), "--add"]) == 0
    capsys.readouterr()
    assert main(["status", ws]) == 0
    assert "near-duplicates" not in capsys.readouterr().out  # the new image is not embedded yet
    assert main(["embed", ws]) == 0
    assert "near-duplicates: 1 groups, 4 images" in capsys.readouterr().out


@pytest.mark.parametrize("backbone", ["none"])
def test_no_backbone_no_near_duplicate_line(tmp_path, capsys, backbone):
    folder = _folder(tmp_path / "photos")
    ws = str(tmp_path / "ws")
    assert main(["init", ws, "--data", str(folder), "--backbone", backbone]) == 0
    assert main(["status", ws]) == 0 and main(["report", ws]) == 0
    assert "near-duplicates" not in capsys.readouterr().out
