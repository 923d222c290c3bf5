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
