"""Augmentation, batched in torch: seed 001's rotation, scaling, shear and Simard's elastic
distortion, and shifts, applied in one ``grid_sample`` and brought back to the input size.

`PRESETS` name the kinds a user picks from (``--set augment=...``): ``geometric`` is seed 001's (it
suits strokes: digits, letters, sketches), ``shift`` only moves and rescales a little (it suits
almost anything: objects, clothes, textures, colour photographs), ``none`` leaves images alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augment:
    rotation_degrees: float = 25.0
    scale: tuple[float, float] = (0.8, 1.2)
    shear: float = 0.3  # shear factor on each axis, +-
    elastic_alpha: float = 34.0  # Simard et al. for 28x28, scaled to the image size
    elastic_sigma: float = 4.0
    translate: float = 0.0  # shift on each axis, +- this fraction of the image size

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x``: ``N x C x H x W`` in [0, 1]; returns a new random distortion of each image."""
        n, _, h, w = x.shape
        if n == 0:
            return x.clone()
        g = generator

        def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(*shape, generator=g)

        angle = uniform(-1, 1, n) * math.radians(self.rotation_degrees)
        scale = uniform(*self.scale, n)
        shx, shy = uniform(-self.shear, self.shear, n), uniform(-self.shear, self.shear, n)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        shear = torch.stack([torch.stack([torch.ones(n), shx], 1), torch.stack([shy, torch.ones(n)], 1)], 1)
        # grid maps output to input coordinates: dividing by the scale enlarges the picture
        matrix = rot @ shear / scale[:, None, None]
        shift = uniform(-2 * self.translate, 2 * self.translate, n, 2, 1)  # grid units: [-1, 1] spans the image
        theta = torch.cat([matrix, shift if self.translate > 0 else torch.zeros(n, 2, 1)], 2)
        grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
        if self.elastic_alpha > 0:
            grid = grid + self._elastic(n, h, w, g)
        return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)

    def _elastic(self, n: int, h: int, w: int, g: torch.Generator | None) -> torch.Tensor:
        size = min(h, w) / 28.0
        sigma = self.elastic_sigma * size
        radius = max(1, int(3 * sigma))
        xs = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-(xs**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        field = torch.rand(n * 2, 1, h, w, generator=g) * 2 - 1
        # reflection needs the image wider than the kernel's radius; tiny images repeat their edge
        across = "reflect" if radius < w else "replicate"
        down = "reflect" if radius < h else "replicate"
        field = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode=across), kernel.view(1, 1, 1, -1))
        field = F.conv2d(F.pad(field, (0, 0, radius, radius), mode=down), kernel.view(1, 1, -1, 1))
        field = field.view(n, 2, h, w) * self.elastic_alpha * size
        # pixels to grid units ([-1, 1] spans the image)
        return torch.stack([field[:, 0] * 2 / w, field[:, 1] * 2 / h], dim=-1)


PRESETS: dict[str, Augment | None] = {
    "geometric": Augment(),
    "shift": Augment(rotation_degrees=0.0, scale=(0.9, 1.1), shear=0.0, elastic_alpha=0.0, translate=0.1),
    "none": None,
}
