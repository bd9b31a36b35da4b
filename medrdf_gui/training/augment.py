"""Batched augmentation on the training device: one affine warp (rotation, scale, shift, optional flips) that also
resamples to the epoch's resolution, then brightness/contrast jitter. No per-image Python loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.06  # fraction of the image
    hflip: bool = False  # chest films have laterality: no flips by default
    vflip: bool = False
    rot90: bool = False
    brightness: float = 0.1
    contrast: float = 0.1


def augment(x: torch.Tensor, size: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """x: [B, C, H, W] in [0, 1] → [B, C, size, size] in [0, 1]."""
    b = x.shape[0]
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=gen, device=dev) * (hi - lo) + lo

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180.0
    if cfg.rot90:
        angle = angle + torch.randint(0, 4, (b,), generator=gen, device=dev) * (math.pi / 2)
    scale = uniform(*cfg.scale)
    sx = torch.ones(b, device=dev)
    sy = torch.ones(b, device=dev)
    if cfg.hflip:
        sx = torch.where(torch.rand(b, generator=gen, device=dev) < 0.5, -sx, sx)
    if cfg.vflip:
        sy = torch.where(torch.rand(b, generator=gen, device=dev) < 0.5, -sy, sy)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * sx, -sin * sy, uniform(-cfg.shift, cfg.shift) * 2], dim=1),
            torch.stack([sin * sx, cos * sy, uniform(-cfg.shift, cfg.shift) * 2], dim=1),
        ],
        dim=1,
    )
    if size < x.shape[-1]:  # antialias before warping down so low-resolution epochs see clean images
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(1 - cfg.contrast, 1 + cfg.contrast).view(b, 1, 1, 1)
    brightness = uniform(-cfg.brightness, cfg.brightness).view(b, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + brightness).clamp_(0.0, 1.0)
