from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuilabel.data import load_pool
from tuilabel.errors import DataError

from .conftest import SAMPLE, write_idx


def test_sample_npz_loads_as_pool():
    pool = load_pool(SAMPLE / "mnist-pool.npz")
    assert pool.images.shape == (4000, 28, 28) and pool.images.dtype == np.uint8
    assert pool.class_names == [str(c) for c in range(10)]
    assert np.bincount(pool.truth).tolist() == [400] * 10
    assert pool.ids[:3].tolist() == ["0", "1", "2"]


def test_npz_floats_in_unit_range_and_channels_first(tmp_path, small_pool):
    rgb = np.stack([small_pool.images] * 3, axis=1).astype(np.float32) / 255.0  # N x 3 x H x W
    np.savez(tmp_path / "x.npz", images=rgb, labels=small_pool.truth)
    pool = load_pool(tmp_path / "x.npz")
    assert pool.images.shape == (40, 8, 8, 3)
    assert np.abs(pool.images[..., 0].astype(int) - small_pool.images).max() <= 1


def test_npy_with_labels_beside(tmp_path, small_pool):
    np.save(tmp_path / "images.npy", small_pool.images)
    np.save(tmp_path / "labels.npy", small_pool.truth)
    pool = load_pool(tmp_path / "images.npy")
    assert (pool.truth == small_pool.truth).all()


def test_string_labels_become_classes(tmp_path, small_pool):
    names = np.array(["cat", "dog", "eel", "fox"])[small_pool.truth]
    np.savez(tmp_path / "x.npz", images=small_pool.images, labels=names)
    pool = load_pool(tmp_path / "x.npz")
    assert pool.class_names == ["cat", "dog", "eel", "fox"]
    assert (pool.truth == small_pool.truth).all()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_finds_labels_beside(tmp_path, small_pool, gz):
    images = write_idx(tmp_path / "train-images-idx3-ubyte", small_pool.images, gz)
    write_idx(tmp_path / "train-labels-idx1-ubyte", small_pool.truth.astype(np.uint8), gz)
    pool = load_pool(images)
    assert (pool.images == small_pool.images).all()
    assert (pool.truth == small_pool.truth).all()
    folder_pool = load_pool(tmp_path)  # a folder holding IDX files works too
    assert (folder_pool.truth == small_pool.truth).all()


def test_idx_with_explicit_labels(tmp_path, small_pool):
    images = write_idx(tmp_path / "digits.idx3", small_pool.images)
    labels = write_idx(tmp_path / "answers.idx1", small_pool.truth.astype(np.uint8))
    assert (load_pool(images, labels=labels).truth == small_pool.truth).all()


def test_image_folder_any_size_colour_and_class_folders(tmp_path):
    rng = np.random.default_rng(1)
    for cls in ("ants", "bees"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (30, 20, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (60, 40), dtype=np.uint8)).save(tmp_path / "ants" / "big.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "bees" / "broken.png").write_bytes(b"\x89PNG garbage")
    warnings: list[str] = []
    pool = load_pool(tmp_path, warn=warnings.append)
    assert pool.images.shape == (7, 30, 20, 3)  # most common size, colour because some are RGB
    assert pool.class_names == ["ants", "bees"]
    assert sorted(np.bincount(pool.truth).tolist()) == [3, 4]
    skipped = [w for w in warnings if "skipped" in w]
    assert len(skipped) == 1 and "skipped 2 file(s)" in skipped[0] and "notes.txt" in skipped[0]
    assert any("display copies 20x30 (6 of 7 images are 20x30" in w for w in warnings), warnings
    assert "ants/big.jpg" in pool.ids.tolist()


def test_image_folder_size_option(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((100, 100), 200, np.uint8)).save(tmp_path / f"{i}.png")
    pool = load_pool(tmp_path, classes=["a", "b"], size=(16, 12))
    assert pool.images.shape == (2, 16, 12)
    assert pool.truth is None


def test_large_images_default_to_capped_size(tmp_path):
    Image.fromarray(np.zeros((256, 128), np.uint8)).save(tmp_path / "a.png")
    pool = load_pool(tmp_path, classes=["x"])
    assert pool.images.shape == (1, 64, 32)


def test_csv_label_first(tmp_path, small_pool):
    rows = [f"{c}," + ",".join(map(str, img.ravel())) for img, c in zip(small_pool.images, small_pool.truth)]
    (tmp_path / "d.csv").write_text("label," + ",".join(f"p{i}" for i in range(64)) + "\n" + "\n".join(rows))
    pool = load_pool(tmp_path / "d.csv")
    assert (pool.images == small_pool.images).all() and (pool.truth == small_pool.truth).all()


def test_csv_without_header_or_labels(tmp_path, small_pool):
    rows = [",".join(map(str, img.ravel())) for img in small_pool.images]
    (tmp_path / "d.csv").write_text("\n".join(rows))
    pool = load_pool(tmp_path / "d.csv", classes=["a", "b"])
    assert pool.images.shape == (40, 8, 8) and pool.truth is None


# -- bad input: each gives a DataError that names the file --------------------------------------


def _bad_inputs(tmp_path, pool):
    cases = {}
    cases["missing"] = (tmp_path / "nope.npz", "no such file")
    (tmp_path / "x.weird").write_text("?")
    cases["unknown format"] = (tmp_path / "x.weird", "unknown format")
    p = tmp_path / "bad-images-idx3-ubyte"
    p.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    cases["wrong magic"] = (p, "magic")
    good = write_idx(tmp_path / "t-images-idx3-ubyte", pool.images)
    trunc = tmp_path / "trunc-images-idx3-ubyte"
    trunc.write_bytes(good.read_bytes()[:-10])
    cases["truncated"] = (trunc, "truncated")
    np.savez(tmp_path / "mismatch.npz", images=pool.images, labels=pool.truth[:-3])
    cases["count mismatch"] = (tmp_path / "mismatch.npz", "40 images but 37 labels")
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 8, 8), np.uint8), labels=np.zeros(0, int))
    cases["empty"] = (tmp_path / "empty.npz", "empty")
    nan = pool.images.astype(np.float32)
    nan[3, 2, 2] = np.nan
    np.savez(tmp_path / "nan.npz", images=nan, labels=pool.truth)
    cases["nan"] = (tmp_path / "nan.npz", "NaN")
    np.savez(tmp_path / "range.npz", images=pool.images.astype(np.int32) * 3, labels=pool.truth)
    cases["out of range"] = (tmp_path / "range.npz", "expected 0..255")
    (tmp_path / "garbage.npz").write_bytes(b"this is not a zip archive")
    cases["unreadable"] = (tmp_path / "garbage.npz", "not a readable")
    gz = tmp_path / "broken-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(good.read_bytes())[:30])
    cases["broken gzip"] = (gz, "")
    (tmp_path / "emptyfolder").mkdir()
    cases["empty folder"] = (tmp_path / "emptyfolder", "no readable images")
    return cases


def test_every_bad_input_names_file_and_problem(tmp_path, small_pool):
    for name, (path, needle) in _bad_inputs(tmp_path, small_pool).items():
        with pytest.raises(DataError) as info:
            load_pool(path)
        message = str(info.value)
        assert str(path) in message, name
        assert needle in message, (name, message)
        assert "\n" not in message, name


def test_benchmark_data_sets_are_reproducible_and_load_as_pools(tmp_path):
    import importlib.util
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_datasets

    which = ["shapes"] + (["photos"] if importlib.util.find_spec("skimage") else [])
    for name in which:
        first = make_datasets.write(tmp_path / "a", name, pool=60, test=20, seed=3)
        again = make_datasets.write(tmp_path / "b", name, pool=60, test=20, seed=3)
        for p, q in zip(first, again):
            with np.load(p) as x, np.load(q) as y:
                assert np.array_equal(x["images"], y["images"]) and np.array_equal(x["labels"], y["labels"])
        pool = load_pool(first[0])
        assert len(pool) == 60 and pool.n_classes == 10 and np.bincount(pool.truth).min() == 6
        assert pool.class_names[6] in ("arrow-left", "coffee")
