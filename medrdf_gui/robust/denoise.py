"""Denoisers on batches [B, C, H, W], each equal to its ``scipy.ndimage`` counterpart with the default border
mode ``reflect`` (half-sample symmetric: d c b a | a b c d | d c b a), as the tests prove.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class Denoiser(Protocol):
    name: str

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


def _symmetric_index(length: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices that extend 0..length−1 by ``pad`` on both sides with scipy's ``reflect`` rule (any pad size)."""
    idx = torch.arange(-pad, length + pad, device=device)
    period = 2 * length
    idx = torch.remainder(idx, period)
    return torch.where(idx >= length, period - 1 - idx, idx)


def symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dimensions by ``pad`` with scipy.ndimage's ``reflect`` mode."""
    if pad == 0:
        return x
    rows = _symmetric_index(x.shape[-2], pad, x.device)
    cols = _symmetric_index(x.shape[-1], pad, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


class NoDenoiser:
    name = "none"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _median3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))


def median3x3(x: torch.Tensor) -> torch.Tensor:
    """3×3 median by sorting columns once: sort each vertical triple (lo ≤ mid ≤ hi), shared by the three pixels
    that see it; then the median of the 3×3 window is median(max of the three lo, median of the three mid, min of
    the three hi) (Paeth, Graphics Gems). 18 elementwise passes instead of the 38 of a median-of-9 network, no
    k²-fold unfold copy, no sort: 2–3.3× the network's speed on one CPU core (scripts/bench_median.py), same
    values (tests: scipy)."""
    padded = symmetric_pad(x, 1)
    h, w = x.shape[-2:]
    top, centre, bottom = padded[..., 0:h, :], padded[..., 1 : h + 1, :], padded[..., 2 : h + 2, :]
    low_pair, high_pair = torch.minimum(top, centre), torch.maximum(top, centre)
    lo = torch.minimum(low_pair, bottom)
    hi = torch.maximum(high_pair, bottom)
    mid = torch.maximum(low_pair, torch.minimum(high_pair, bottom))
    left, here, right = slice(0, w), slice(1, w + 1), slice(2, w + 2)
    max_lo = torch.maximum(torch.maximum(lo[..., left], lo[..., here]), lo[..., right])
    min_hi = torch.minimum(torch.minimum(hi[..., left], hi[..., here]), hi[..., right])
    med_mid = _median3(mid[..., left], mid[..., here], mid[..., right])
    return _median3(max_lo, med_mid, min_hi)


class MedianFilter:
    """k×k median (k odd), as ``scipy.ndimage.median_filter(size=k, mode='reflect')`` on each image plane."""

    name = "median"

    def __init__(self, size: int = 3) -> None:
        if size < 1 or size % 2 == 0:
            raise ValueError("median window size must be odd")
        self.size = int(size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        k = self.size
        if k == 1:
            return x
        if k == 3:
            return median3x3(x)
        padded = symmetric_pad(x, k // 2)
        patches = padded.unfold(-2, k, 1).unfold(-2, k, 1)  # [B, C, H, W, k, k]
        return patches.reshape(*patches.shape[:-2], k * k).median(dim=-1).values


class GaussianSmoothing:
    """Separable gaussian of σ pixels, as ``scipy.ndimage.gaussian_filter(sigma=σ, mode='reflect', truncate=4)``
    applied to the two spatial axes only."""

    name = "gaussian"

    def __init__(self, sigma: float = 1.0, truncate: float = 4.0) -> None:
        self.sigma = float(sigma)
        self.radius = int(truncate * self.sigma + 0.5)
        offsets = torch.arange(-self.radius, self.radius + 1, dtype=torch.float64)
        kernel = torch.exp(-0.5 * (offsets / self.sigma) ** 2)
        self.kernel = (kernel / kernel.sum()).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        r = self.radius
        weight = self.kernel.to(device=x.device, dtype=x.dtype)
        planes = symmetric_pad(x, r).reshape(b * c, 1, h + 2 * r, w + 2 * r)
        planes = F.conv2d(planes, weight.view(1, 1, -1, 1))  # along rows
        planes = F.conv2d(planes, weight.view(1, 1, 1, -1))  # along columns
        return planes.reshape(b, c, h, w)


def make_denoiser(name: str, kernel: float) -> Denoiser:
    if name == "median":
        return MedianFilter(int(kernel))
    if name == "gaussian":
        return GaussianSmoothing(float(kernel))
    return NoDenoiser()
