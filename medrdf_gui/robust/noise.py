"""Noises of level σ on batches of images in [0, 1], drawn on the images' device from an explicit generator.

Each is a small callable class (the pytorch-grad-cam pattern: one protocol, one class per method). All outputs
are clipped to [0, 1]. Besides the paper's pixel noises, the random transformation of Xie et al. 2018 (Random
R-P, the paper's TABLE XI baseline) has the same shape — a random draw per copy at level σ — so the engine votes
over it and the adaptive attack differentiates through it like any noise.
"""

from __future__ import annotations

from typing import Protocol

import math

import torch
import torch.nn.functional as F


class Noise(Protocol):
    name: str

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


class GaussianNoise:
    """x + N(0, σ²) per element."""

    name = "gaussian"

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x.add(noise, alpha=self.sigma).clamp_(0.0, 1.0)


class SaltPepperNoise:
    """A fraction σ of the elements replaced, half by 0 (pepper) and half by 1 (salt) — skimage's ``s&p`` with
    ``amount=σ, salt_vs_pepper=0.5``, drawn independently per element (per pixel for grey images)."""

    name = "salt-pepper"

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        # u < σ/2: pepper (0); σ/2 ≤ u < σ: salt (1); else the pixel. One select over a 0/1 tensor instead of two
        # selects over materialised zeros and ones: the same values from the same draw, in 4 passes instead of 7.
        return torch.where(u < self.sigma, (u >= self.sigma / 2).to(x.dtype), x)


class PoissonNoise:
    """Shot noise whose standard deviation at full intensity is σ: y = Poisson(x / σ²) · σ².

    Why this definition: skimage's ``poisson`` mode has no level parameter (its photon count comes from the
    number of distinct grey values), so it cannot honour σ. Scaling the photon count to 1/σ² gives
    E[y] = x and Var[y] = σ²·x, i.e. the same σ as the gaussian noise at white and less noise in dark regions,
    which is how quantum mottle behaves on a radiograph. σ = 0 returns x unchanged.
    """

    name = "poisson"

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.sigma == 0.0:
            return x.clone()
        scale = self.sigma**2
        return torch.poisson(x / scale, generator=generator).mul_(scale).clamp_(0.0, 1.0)


class RandomResizePad:
    """Random resizing and padding (Xie et al. 2018, "Mitigating adversarial effects through randomization"):
    each copy is shrunk to a side drawn uniformly from [⌈(1 − σ)·S⌉, S] (S its own side; bilinear with
    antialiasing, aspect kept) and placed at a uniformly drawn offset on a black canvas of the original size.

    Why shrink-and-pad rather than Xie's enlarge-and-pad: the shipped models take a fixed input size, and a
    canvas of that size keeps the classifier and every backend unchanged. σ = 0.1 at 224 px draws sides in
    [202, 224], close to the paper's TABLE X range [200, 224]. Differentiable in ``x``: an attacker's EOT sees
    the true transformation's gradient (no BPDA needed).
    """

    name = "resize-pad"

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        longest = max(h, w)
        low = min(longest, max(1, math.ceil((1.0 - self.sigma) * longest - 1e-9)))
        sides = torch.randint(low, longest + 1, (b,), generator=generator, device=x.device).tolist()
        u = torch.rand((b, 2), generator=generator, device=x.device, dtype=torch.float64).tolist()
        out = x.new_zeros(x.shape)
        for side in sorted(set(sides)):
            idx = [i for i, s in enumerate(sides) if s == side]
            rh, rw = max(1, round(h * side / longest)), max(1, round(w * side / longest))
            part = x[idx]
            if (rh, rw) != (h, w):
                part = F.interpolate(part, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)
            for j, i in enumerate(idx):
                top, left = int(u[i][0] * (h - rh + 1)), int(u[i][1] * (w - rw + 1))
                out[i, :, top : top + rh, left : left + rw] = part[j]
        return out.clamp_(0.0, 1.0)


class RandomRotation:
    """Each copy rotated about its centre by an angle drawn uniformly from [100°·σ, 1000°·σ] (bilinear, black
    corners): σ = 0.1 is the paper's TABLE X range [10°, 100°], the "random rotating" it puts in place of the
    noise. Differentiable in ``x``."""

    name = "rotate"

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        u = torch.rand(b, generator=generator, device=x.device, dtype=torch.float64)
        angle = torch.deg2rad((100.0 + 900.0 * u) * self.sigma).to(x.dtype)
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp_(0.0, 1.0)


NOISE_CLASSES = {cls.name: cls for cls in (GaussianNoise, SaltPepperNoise, PoissonNoise, RandomResizePad,
                                           RandomRotation)}


def make_noise(name: str, sigma: float) -> Noise:
    return NOISE_CLASSES[name](sigma)
