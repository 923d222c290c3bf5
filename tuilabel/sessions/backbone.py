"""What a mode that uses the workspace's backbone opens with: the pool's embeddings (computed first
where the workspace lacks them, `tuilabel embed`), standardized, and the test set's like them; and
what computing them costs on the reference CPU, which a simulation charges once."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..workspace import Workspace
from .base import COSTS, Progress, no_progress


def features(workspace: Workspace, progress: Progress = no_progress) -> dict[str, Any]:
    """``{"features": ..., "test_features": ...}`` for a session's constructor; ``{}`` without a backbone."""
    if workspace.backbone == "none":
        return {}
    from .. import embeddings
    from ..models.head import like_pool, pool_features

    if not embeddings.is_complete(workspace, workspace.backbone):
        embeddings.compute(workspace, workspace.backbone, progress)
    pool, shift, scale = pool_features(embeddings.load(workspace, workspace.backbone))
    test = None
    if workspace.test is not None:
        test = like_pool(embeddings.load(workspace, workspace.backbone, "test"), shift, scale)
    return {"features": pool, "test_features": test}


def pending(workspace: Workspace) -> bool:
    """Whether `features` has slow work to do: embeddings not all computed (loading them is quick)."""
    if workspace.backbone == "none":
        return False
    from .. import embeddings

    return not embeddings.is_complete(workspace, workspace.backbone)


def embedding_seconds(workspace: Workspace, items: int) -> float:
    """The embedding's compute for ``items`` images on the reference CPU."""
    from .. import embeddings

    record = embeddings.info(workspace, workspace.backbone)
    side = record.side if record is not None else 224
    return COSTS.embed_image * (side / 224) ** 2 * items


class UsesBackbone:
    """What a session that reads the backbone's features shares (batch, review): opening with them
    (`prepare`, on a worker while they are computed), taking them in the constructor, and the
    embedding's cost charged once to a simulation."""

    workspace: Workspace
    features: np.ndarray | None
    test_features: np.ndarray | None

    @classmethod
    def prepare(cls, workspace: Workspace, settings: Any = None, progress: Progress = no_progress,
                save_models: bool = True) -> dict[str, Any]:
        """With a backbone: its embeddings of the pool, standardized, and of the test set."""
        return features(workspace, progress)

    @classmethod
    def needs_preparing(cls, workspace: Workspace, settings: Any = None) -> bool:
        """Slow while the backbone's embeddings are not all computed."""
        return pending(workspace)

    def take_features(self, workspace: Workspace, pool: np.ndarray | None, test: np.ndarray | None) -> None:
        """The constructor's: the features given, else the workspace's (computed first if need be)."""
        if pool is None and workspace.backbone != "none":
            parts = features(workspace)
            pool, test = parts["features"], parts["test_features"]
        self.features = pool  # standardized (None: no backbone)
        self.test_features = test

    def setup_seconds(self) -> float:
        """The embedding's compute on the reference CPU (a simulation charges it once)."""
        return 0.0 if self.features is None else embedding_seconds(self.workspace, len(self.workspace.pool))


class BackboneSpace:
    """The backbone's stored features standing in for an encoder (the clusters mode's space and its
    probe): ``encode`` answers for the pool's and the test set's arrays, which it knows by their
    shape and a sample of their rows; the network itself is not run again."""

    def __init__(self, pool_x: np.ndarray, pool: np.ndarray, test_x: np.ndarray | None = None,
                 test: np.ndarray | None = None) -> None:
        self.parts = {self._key(pool_x): pool}
        if test_x is not None and test is not None:
            self.parts[self._key(test_x)] = test
        self.dim = pool.shape[1]

    @staticmethod
    def _key(x: np.ndarray) -> tuple[tuple[int, ...], str]:
        import hashlib

        rows = np.ascontiguousarray(np.asarray(x, np.float32)[:: max(1, len(x) // 64)])
        return tuple(x.shape), hashlib.sha1(rows.tobytes()).hexdigest()

    def encode(self, x: np.ndarray) -> np.ndarray:
        features = self.parts.get(self._key(x))
        if features is None:
            raise ValueError("the backbone's stored features answer for the whole pool or test set only")
        return features


def backbone_space_check(workspace: Workspace) -> None:
    """A mode asked to work in the backbone's features on a workspace without one: one line."""
    if workspace.backbone == "none":
        from ..errors import TuilabelError

        raise TuilabelError("space=backbone needs a backbone: tuilabel embed WORKSPACE --backbone NAME chooses one",
                            workspace.path)


def backbone_space(workspace: Workspace, pool_x: np.ndarray, progress: Progress = no_progress
                   ) -> tuple[BackboneSpace, np.ndarray]:
    """The workspace's backbone as an encoder (its embeddings computed first where missing) and the
    pool's features, standardized as the batch head reads them."""
    backbone_space_check(workspace)
    parts = features(workspace, progress)
    test = workspace.test
    test_x = test.as_float() if test is not None and parts["test_features"] is not None else None
    return BackboneSpace(pool_x, parts["features"], test_x, parts["test_features"]), parts["features"]
