"""What a mode that uses the workspace's backbone opens with: the pool's embeddings (computed first
where the workspace lacks them, `tuilabel embed`), standardized, and the test set's like them; and
what computing them costs on the reference CPU, which a simulation charges once."""

from __future__ import annotations

from typing import Any

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
