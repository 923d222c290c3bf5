"""A workspace folder: config, the pool (cached as arrays), the label store, models and runs.

Layout::

    WORKSPACE/
        tuilabel.toml    settings: where the data came from, classes, image size
        pool.npz         the pool as loaded (so a folder of JPEGs is decoded once): ids, classes,
        pool-images.npy  and its pixels, memory-mapped when the workspace opens
        test.npz         optional labelled test set, for evaluation only (pixels in test-images.npy)
        labels.sqlite    the label store (WAL), unless [store] location in tuilabel.toml names
                         another (a PostgreSQL URL, for a team)
        models/          trained models (.npz arrays + a JSON header, never pickles) and each
                         mode's resume state (MODE-state.json)
        runs/            simulated sessions and benchmark outputs
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import numpy as np

from .data import Pool, find_idx_images, is_image_files, load_pool, read_image_files
from .errors import DataError, TuilabelError
from .store import LabelStore, is_url, shown_location

CONFIG = "tuilabel.toml"
INGEST = ".ingest"  # an image source being read by init: what a rerun after a kill goes on from

# Every model file a mode writes, by name: the one place these file names are spelled.
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")  # a model file is models/NAME.npz; each mode names its own


def sample_dir() -> Path:
    """The bundled sample: inside the installed package (``tuilabel/sample_data``, mapped from the
    repository's top-level ``sample_data/`` at build time), or that folder in a source checkout."""
    from importlib import resources

    with_package = Path(str(resources.files("tuilabel"))) / "sample_data"
    if (with_package / "mnist-pool.npz").is_file():
        return with_package
    return Path(__file__).resolve().parent.parent / "sample_data"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # JSON's escapes are valid TOML basic-string escapes; TOML wants DEL escaped too, and non-BMP
    # characters as themselves (JSON's surrogate pairs are not TOML)
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007F")


def dump_toml(config: dict[str, dict[str, Any]]) -> str:
    lines = []
    for table, values in config.items():
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {_toml_value(v)}" for key, v in values.items() if v is not None)
        lines.append("")
    return "\n".join(lines)


def write_config(folder: Path, text: str) -> None:
    """``tuilabel.toml`` in ``folder``, replaced atomically."""
    tmp = folder / (CONFIG + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / CONFIG)


JOURNAL = "journal.jsonl"  # labels waiting for an unreachable PostgreSQL store (tuilabel.store.journal)


class Workspace:
    """An opened workspace. Loads the pool and the store lazily."""

    def __init__(self, path: str | Path, store_path: str | Path | None = None) -> None:
        self.path = Path(path)
        config_path = self.path / CONFIG
        if not config_path.is_file():
            raise TuilabelError("not a tuilabel workspace (run `tuilabel init` first)", self.path)
        try:
            self.config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            raise TuilabelError(f"broken config ({exc})", config_path) from None
        self._locate_store(store_path)
        self._pool: Pool | None = None
        self._test: Pool | None = None
        self._store: LabelStore | None = None

    def _locate_store(self, store_path: str | Path | None = None) -> None:
        """Where the labels are: a simulation's scratch file, else [store] location, else labels.sqlite."""
        configured = self.config.get("store", {}).get("location")
        if store_path is not None:
            self.store_location = str(store_path)
        elif configured:
            self.store_location = str(configured) if is_url(configured) else str(self.path / configured)
        else:
            self.store_location = str(self.path / "labels.sqlite")
        # the SQLite file, or None when the store is a PostgreSQL database
        self.store_path: Path | None = None if is_url(self.store_location) else Path(self.store_location)

    # -- creation -------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path,
        data: str | Path,
        test: str | Path | None = None,
        classes: Sequence[str] | None = None,
        labels: str | Path | None = None,
        size: tuple[int, int] | None = None,
        warn: Callable[[str], None] | None = None,
        store: str | None = None,
        progress: Callable[[float | None, str], None] | None = None,
        backbone: str | None = None,
    ) -> Workspace:
        from .ingest import finish as finish_ingest

        path = Path(path)
        if store is not None and not is_url(store):
            raise TuilabelError("--store takes a PostgreSQL URL (postgresql://...); without it the labels "
                                "go to the workspace's labels.sqlite", store)
        if store is not None:  # reachable and empty, before any work
            with LabelStore(store) as remote:
                if remote.n_events() or remote.owner() is not None:
                    raise TuilabelError(f"the label store belongs to another workspace ({remote.n_events()} label "
                                        "events): give an empty database", shown_location(store))
        if (path / CONFIG).exists():
            raise TuilabelError("already a workspace; open it instead of running init again", path)
        if path.exists() and not path.is_dir():
            raise TuilabelError("exists and is not a folder", path)
        source = Path(data)
        if source.exists() and is_image_files(source) and labels is None:  # read into the workspace, resumably
            path.mkdir(parents=True, exist_ok=True)
            work = path / INGEST
            pool = read_image_files(source, work, classes, size,
                                    warn or (lambda msg: print(f"tuilabel: {msg}", file=sys.stderr)), progress)
            pool.images = np.empty(0)  # the memory map closed before its file moves
            finish_ingest(work, Pool.images_path(path / "pool.npz"))
            pool.images = np.load(Pool.images_path(path / "pool.npz"), mmap_mode="r")
        else:
            pool = load_pool(data, labels=labels, classes=classes, size=size, warn=warn)
        repeated = sorted({n for n in pool.class_names if pool.class_names.count(n) > 1})
        if repeated:
            raise DataError(f"class names must be distinct; repeated: {', '.join(map(repr, repeated))}", data)
        if test is None and Path(data).is_dir():
            test = next((p for p in find_idx_images(Path(data)) if p.name.startswith("t10k")), None)
        test_pool = None
        if test is not None:
            size_hw = (pool.image_shape[0], pool.image_shape[1])
            test_pool = load_pool(test, classes=pool.class_names, size=size_hw, warn=warn)
            if test_pool.truth is None:
                raise DataError("the test set has no labels", test)
            if test_pool.image_shape != pool.image_shape:
                raise DataError(
                    f"test images are {test_pool.image_shape}, the pool's are {pool.image_shape}", test
                )
        path.mkdir(parents=True, exist_ok=True)
        (path / "models").mkdir(exist_ok=True)
        (path / "runs").mkdir(exist_ok=True)
        pool.save(path / "pool.npz")
        if test_pool is not None:
            test_pool.save(path / "test.npz")
        config: dict[str, dict[str, Any]] = {
            "workspace": {"version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                          "id": uuid.uuid4().hex},
            "data": {
                "source": str(Path(data).resolve()),
                "test": str(Path(test).resolve()) if test is not None else None,
                "items": len(pool),
                "image_shape": list(pool.image_shape),
            },
            "classes": {"names": pool.class_names},
        }
        if backbone is not None:
            config["model"] = {"backbone": backbone}
        if store is not None:
            config["store"] = {"location": store}
        text = dump_toml(config)
        try:
            readable = tomllib.loads(text) == {t: {k: v for k, v in vals.items() if v is not None}
                                               for t, vals in config.items()}
            text.encode("utf-8")
        except (tomllib.TOMLDecodeError, UnicodeEncodeError):
            readable = False
        if not readable:
            raise DataError("a class name or path cannot be written to the workspace's config", data)
        with LabelStore(store if store is not None else path / "labels.sqlite") as created:
            created.claim_workspace(config["workspace"]["id"])
        write_config(path, text)  # the config appears last: a half-made workspace is no workspace
        return cls(path)

    def add_images(self, source: str | Path, warn: Callable[[str], None],
                   progress: Callable[[float | None, str], None] | None = None) -> tuple[int, int]:
        """Image files of ``source`` that the pool does not hold yet, read at the pool's size and
        colour and appended to it; labels, models and ids of the items already there untouched.
        Returns (added, already in the pool)."""
        from .ingest import read_images, scan
        from .originals import Originals

        pool = self.pool
        if pool.originals is None:
            raise TuilabelError("the pool came from arrays, not image files: --add takes image files into a pool "
                                "read from image files", self.path)
        source = Path(source)
        if not (source.exists() and is_image_files(source)):
            raise DataError("--add takes a folder of images, a list or a CSV of image paths", source)
        known = {str(pool.originals.path(i)) for i in range(len(pool))}
        work = self.path / (INGEST + "-add")
        h, w = pool.image_shape[:2]
        images, _, _, truth, found = read_images(source, work, (h, w), pool.class_names, warn, progress,
                                                 colour=pool.channels == 3, exclude=known)
        root = Path(pool.originals.root)
        paths = []
        for i in range(len(found)):
            path = found.path(i)
            paths.append(path.relative_to(root).as_posix() if root in path.parents else str(path))
        new_ids = np.array(paths)  # ids as the pool's own: under its root, else the absolute path
        clash = sorted(set(new_ids.tolist()) & set(pool.ids.tolist()))
        if clash:
            raise DataError(f"{len(clash)} new files would take ids the pool has (first: {clash[0]})", source)
        unknown = int((truth < 0).sum()) if truth is not None else 0
        if truth is not None and unknown:
            warn(f"{source}: {unknown} new image(s) are in folders that are not among the classes; added unlabelled")
        pixels = Pool.images_path(self.path / "pool.npz")
        tmp = pixels.with_name(pixels.name + ".tmp")
        out = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(pool) + len(new_ids), *pool.image_shape))
        step = max(1, (64 << 20) // max(1, int(np.prod(pool.image_shape))))
        for start in range(0, len(pool), step):
            end = min(start + step, len(pool))
            out[start:end] = pool.images[start:end]
        for start in range(0, len(new_ids), step):
            out[len(pool) + start:len(pool) + start + step] = images[start:start + step]
        out.flush()
        del out, images
        old_truth = pool.truth if pool.truth is not None else np.full(len(pool), -1, np.int64)
        new_truth = truth if truth is not None else np.full(len(new_ids), -1, np.int64)
        self._pool = None
        os.replace(tmp, pixels)
        merged = Pool(np.load(pixels, mmap_mode="r"), np.concatenate([pool.ids, new_ids]),
                      pool.class_names, np.concatenate([old_truth, new_truth]), pool.source,
                      originals=Originals(pool.originals.root, np.concatenate([pool.originals.paths, new_ids]),
                                          np.concatenate([pool.originals.sizes, found.sizes]),
                                          np.concatenate([pool.originals.mtimes, found.mtimes]),
                                          np.concatenate([pool.originals.hashes, found.hashes])))
        merged.save(self.path / "pool.npz")  # the pixels are in place: only ids, truth and records are written
        shutil.rmtree(work, ignore_errors=True)
        self._update_config("data", {"items": len(merged)})
        return len(new_ids), sum(e.path in known for e in scan(source)[1])

    def replace_originals(self, originals: Any) -> None:
        """The pool's records of its original files replaced (the pixels untouched)."""
        pool = self.pool
        pool.originals = originals
        pool.save(self.path / "pool.npz")

    # -- parts ----------------------------------------------------------------------------------

    @property
    def class_names(self) -> list[str]:
        return list(self.config["classes"]["names"])

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = self._load_cached("pool.npz")
            self._apply_class_names()
        return self._pool

    @property
    def test(self) -> Pool | None:
        if self._test is None and (self.path / "test.npz").exists():
            self._test = self._load_cached("test.npz")
            self._apply_class_names()
        return self._test

    def _load_cached(self, name: str) -> Pool:
        try:
            return Pool.load_cache(self.path / name)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"cannot read the workspace's cached data ({exc})", self.path / name) from None

    @property
    def store(self) -> LabelStore:
        if self._store is None:
            own = self.store_path is None or self.store_path.parent == self.path  # not a simulation's
            if self.store_path is not None and own:
                if not self.store_path.is_file():
                    raise TuilabelError("the label store is missing (restore it from a backup; a new empty "
                                        "one would hide every label)", self.store_path)
                if self.store_path.stat().st_size == 0:
                    raise TuilabelError("the label store is empty (0 bytes): restore it from a backup",
                                        self.store_path)
            store = LabelStore(self.store_location)
            if store.engine_name == "postgresql" and own:  # labels typed while the server is away wait here
                try:
                    store.use_journal(self.path / JOURNAL)
                except TuilabelError:
                    store.close()
                    raise
            if own:
                try:
                    store.claim_workspace(self.config.get("workspace", {}).get("id"))
                except TuilabelError:
                    store.close()
                    raise
            self._store = store
        return self._store

    def set_store(self, location: str) -> None:
        """Point the workspace at another label store (after `tuilabel store migrate`): rewrites
        tuilabel.toml's [store] location, atomically."""
        config = {table: dict(values) for table, values in self.config.items()}
        default = self.path / "labels.sqlite"
        if not is_url(location) and Path(location).resolve() == default.resolve():
            config.pop("store", None)
        else:
            config["store"] = {"location": location if is_url(location) else str(Path(location).resolve())}
        write_config(self.path, dump_toml(config))
        self.close()
        self.config = config
        self._locate_store()

    def saved_settings(self, mode: str) -> dict[str, Any]:
        """A mode's settings kept in tuilabel.toml (``[batch]``, ``[clusters]``...; `label --save`)."""
        table = self.config.get(mode, {})
        return dict(table) if isinstance(table, dict) else {}

    def save_settings(self, mode: str, values: dict[str, Any]) -> None:
        """Keep ``values`` in the mode's table of tuilabel.toml (merged with what is there), atomically."""
        self._update_config(mode, values)

    @property
    def backbone(self) -> str:
        """The pretrained image encoder every mode uses ([model] backbone; none when unset)."""
        return str(self.config.get("model", {}).get("backbone", "none"))

    def set_backbone(self, name: str) -> None:
        """[model] backbone in tuilabel.toml, rewritten atomically."""
        self._update_config("model", {"backbone": name})

    # -- classes that change ----------------------------------------------------------------------

    def add_class(self, name: str, who: str | None = None) -> int:
        """A new class at the end (its index: what the labels store), on a live workspace: the
        config says so at once, open sessions read it (`reload_classes`), and the store's history of
        the classes records it. Returns its index."""
        name = self._new_class_name(name)
        names = [*self.class_names, name]
        self._set_classes(names, {"op": "add", "name": name, "index": len(names) - 1}, who)
        return len(names) - 1

    def rename_class(self, old: str, new: str, who: str | None = None) -> int:
        """A class's name changed; its index, and so every label of it, stays."""
        names = self.class_names
        if old not in names:
            raise TuilabelError(f"no class {old!r}; the classes are {', '.join(names)}", self.path / CONFIG)
        new = self._new_class_name(new)
        index = names.index(old)
        names[index] = new
        self._set_classes(names, {"op": "rename", "name": new, "old": old, "index": index}, who)
        return index

    def merge_classes(self, source: str, target: str, who: str | None = None) -> int:
        """Two classes found to be one: every item a person labelled ``source`` is labelled ``target``
        (new events in one transaction, by ``who``; the old ones stay in the log). ``source`` stays,
        empty, at its index, since labels and models name classes by index: rename it to use its key
        for something else. Returns how many labels moved."""
        names = self.class_names
        for name in (source, target):
            if name not in names:
                raise TuilabelError(f"no class {name!r}; the classes are {', '.join(names)}", self.path / CONFIG)
        if source == target:
            raise TuilabelError("merge takes two different classes", self.path / CONFIG)
        a, b = names.index(source), names.index(target)
        moving = [(item, b, conf) for item, (label, conf) in self.store.current(("human",)).items() if label == a]
        if moving:
            session = self.store.start_session("classes", who)
            self.store.add_groups([(session, moving)])
        self._set_classes(names, {"op": "merge", "name": target, "old": source, "moved": len(moving)}, who)
        return len(moving)

    def class_history(self) -> list[dict[str, Any]]:
        """What `add_class` and `rename_class` did, oldest first (time, annotator, op, name...)."""
        raw = self.store.meta("class_history")
        return list(json.loads(raw)) if raw else []

    def _new_class_name(self, name: str) -> str:
        name = name.strip()
        if not name or any(c in name for c in "\n\r\t"):
            raise TuilabelError(f"{name!r} is not a class name", self.path / CONFIG)
        if name in self.class_names:
            raise TuilabelError(f"there is a class {name!r} already", self.path / CONFIG)
        return name

    def _set_classes(self, names: list[str], event: dict[str, Any], who: str | None) -> None:
        from .store import default_annotator

        history = [*self.class_history(), {**event, "time": time.time(), "annotator": who or default_annotator()}]
        # the history, and the list a team's other copies of the workspace follow: together
        self.store.set_meta({"class_history": json.dumps(history), "class_names": json.dumps(names)})
        self._update_config("classes", {"names": names})
        self._apply_class_names()

    def _store_class_names(self) -> list[str] | None:
        """The classes as the label store knows them (a class added on another annotator's machine),
        None when it has no word on them or cannot be reached now."""
        if self.store.unreachable_since is not None:
            return None  # an outage: the screens' timer must not wait on the server for this
        try:
            raw = self.store.meta("class_names")
        except TuilabelError:
            return None
        names = json.loads(raw) if raw else None
        return [str(n) for n in names] if isinstance(names, list) else None

    def reload_classes(self) -> bool:
        """Read the classes from tuilabel.toml again (another terminal may have added or renamed
        one); True when they changed. The pool and test set follow them in place."""
        try:
            fresh = tomllib.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            return False  # half-written or gone for a moment: the next look sees it
        names = fresh.get("classes", {}).get("names")
        before = self.class_names
        shared = self._store_class_names()
        if shared is not None and (not isinstance(names, list) or len(shared) >= len(names)) and shared != names:
            fresh.setdefault("classes", {})["names"] = shared  # this copy of the workspace follows the team's
            write_config(self.path, dump_toml(fresh))
            names = shared
        if not isinstance(names, list) or names == before or len(names) < len(before):
            return False
        self.config = {**self.config, "classes": {**self.config.get("classes", {}), "names": list(names)}}
        self._apply_class_names()
        return True

    def _apply_class_names(self) -> None:
        """The config's class names onto the loaded pool and test set: classes added since `init`
        are the config's alone (pool.npz keeps the ones it was made with, a prefix of them)."""
        for file, data in (("pool.npz", self._pool), ("test.npz", self._test)):
            if data is None:
                continue
            if len(data.class_names) > len(self.class_names):
                raise TuilabelError(f"the config names {len(self.class_names)} classes but {file} has "
                                    f"{len(data.class_names)}: the workspace is inconsistent", self.path / CONFIG)
            data.class_names = self.class_names

    def _update_config(self, table: str, values: dict[str, Any]) -> None:
        """tuilabel.toml with ``values`` merged into ``table``, replaced atomically."""
        config = {t: dict(v) for t, v in self.config.items()}
        config.setdefault(table, {}).update(values)
        write_config(self.path, dump_toml(config))
        self.config = config

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    def check(self) -> Workspace:
        """Read every part now (config, pool, test set, label store): what is missing or damaged is a
        one-line `TuilabelError` here, before an app opens, not a traceback inside it."""
        if "classes" not in self.config or "names" not in self.config.get("classes", {}):
            raise TuilabelError("broken config (no [classes] names)", self.path / CONFIG)
        shared = None if self.store.read_only else self._store_class_names()
        if shared is not None and len(shared) >= len(self.class_names) and shared != self.class_names:
            self._update_config("classes", {"names": shared})  # added or renamed on another machine
            self._apply_class_names()
        pool = self.pool  # takes the config's class names (classes added later are the config's alone)
        if pool.class_names != self.class_names:
            raise TuilabelError(f"the config names {len(self.class_names)} classes but pool.npz has "
                                f"{pool.n_classes}: the workspace is inconsistent", self.path / CONFIG)
        self.test  # noqa: B018 - loads and checks it
        self.store  # noqa: B018
        return self

    def model_path(self, name: str) -> Path:
        """Where the model (or a mode's resume state, ``NAME-state``) called ``name`` lives."""
        if name.endswith("-state"):
            return self.models_dir / f"{name}.json"
        if not MODEL_NAME.fullmatch(name):
            raise ValueError(f"a model's name is lower-case letters, digits and dashes, not {name!r}")
        return self.models_dir / f"{name}.npz"

    def has_model(self, name: str) -> bool:
        return self.model_path(name).is_file()

    def load_model(self, name: str, loader: Callable[[Path], Any]) -> Any:
        """``loader(path)`` for the model called ``name``, checked against the pool: a model made for
        other classes or another image shape is a one-line error naming the file."""
        path = self.model_path(name)
        model = loader(path)
        check_model(model, self.pool, path)
        return model

    def models_present(self) -> list[str]:
        """The names of the models this workspace has (``models/NAME.npz``; a save's temporary
        file is not one)."""
        if not self.models_dir.is_dir():
            return []
        names = (path.name[: -len(".npz")] for path in self.models_dir.glob("*.npz"))
        return sorted(name for name in names if MODEL_NAME.fullmatch(name))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def demo_workspace_path() -> Path:
    home = os.environ.get("TUILABEL_HOME") or Path.home() / ".local" / "share" / "tuilabel"
    return Path(home) / "demo"


def open_or_create_demo() -> Workspace:
    path = demo_workspace_path()
    if (path / CONFIG).exists():
        return Workspace(path)
    sample = sample_dir()
    return Workspace.init(path, sample / "mnist-pool.npz", test=sample / "mnist-test.npz")


def check_model(model: Any, pool: Pool, path: Path) -> None:
    """Raise a `TuilabelError` naming ``path`` unless ``model`` fits the pool's classes and images."""
    n_classes = getattr(model, "n_classes_", None)
    if n_classes is not None and int(n_classes) != pool.n_classes:
        raise TuilabelError(f"the model is for {n_classes} classes, the pool has {pool.n_classes} "
                            "(retrain it, or delete the file)", path)
    expected = (pool.channels, *pool.image_shape[:2])
    shape = getattr(model, "input_shape_", None)
    if shape is not None and tuple(int(s) for s in shape) != expected:
        raise TuilabelError(f"the model is for images of {'x'.join(map(str, shape))}, the pool's are "
                            f"{'x'.join(map(str, expected))} (retrain it, or delete the file)", path)
    weights = getattr(model, "W_", None)
    if shape is None and weights is not None and int(weights.shape[0]) != int(np.prod(expected)):
        raise TuilabelError(f"the model has {weights.shape[0]} visible units, the pool's images have "
                            f"{int(np.prod(expected))} pixels (retrain it, or delete the file)", path)
