"""Backbones from elsewhere: a saved model of the person's (``file:PATH``: ``torch.export.save``'s .pt2
at 224x224 with a dynamic batch, or a TorchScript file) or a Hugging Face
vision model (``hf:ORG/NAME``, read from the local cache; downloaded only when asked). Each is
wrapped to the default's interface: ``encode(images, side)`` -> float32 ``(n, dim)``, ``dim``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import TuilabelError
from .backbones import FILE, HF
from .effnet import Encoder


def hf_cached(repo: str) -> None:
    """One line saying how to get ``repo`` when the Hugging Face cache lacks it."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "config.json")
    if not isinstance(found, str):
        raise TuilabelError(f"backbone {HF}{repo} is not in the Hugging Face cache (HF_HOME, ~/.cache/huggingface): "
                            f"download it with tuilabel embed WS --backbone {HF}{repo} --download, or copy the "
                            "cache from a machine that has it")


class ForeignBackbone(Encoder):
    """``forward(x)`` on ``(n, 3, side, side)`` ImageNet-normalised floats -> ``(n, dim)`` features."""

    MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)  # ImageNet's, what such models expect
    STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)

    def __init__(self, name: str, forward: Callable[[torch.Tensor], torch.Tensor], device: str) -> None:
        self.name, self._forward, self.device = name, forward, device
        with torch.inference_mode():
            self.dim = int(forward(torch.zeros(1, 3, 224, 224, device=device)).reshape(1, -1).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)


def load_foreign(name: str, device: str | None = None, download: bool = False) -> ForeignBackbone:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith(FILE):
        path = Path(name[len(FILE):]).expanduser()
        try:
            if path.suffix == ".pt2":  # torch.export's program (what torch now recommends)
                module: Any = torch.export.load(str(path)).module().to(device)
            else:  # TorchScript (torch.jit.save), the older way
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    module = torch.jit.load(str(path), map_location=device).eval()
        except Exception as exc:  # whatever the loader says: one line
            raise TuilabelError(f"not a saved model ({(str(exc).splitlines() or [type(exc).__name__])[0][:120]}): "
                                "save yours with torch.export.save (a .pt2 file) or torch.jit.save", path) from None
        return ForeignBackbone(name, module, device)
    repo = name[len(HF):]
    try:
        from transformers import AutoModel
    except ImportError:
        raise TuilabelError(f"backbone {name} needs transformers: pip install 'tuilabel[hf]'") from None
    if not download:
        hf_cached(repo)
    model: Any = AutoModel.from_pretrained(repo, local_files_only=not download).eval().to(device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = model(pixel_values=x)
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None:
            return pooled.reshape(len(x), -1)
        return out.last_hidden_state.mean(dim=1)  # no pooler: the tokens' mean

    return ForeignBackbone(name, forward, device)
