"""Noises of level σ on batches of images in [0, 1], drawn on the images' device from an explicit generator.

Each is a small callable class (the pytorch-grad-cam pattern: one protocol, one class per method). All outputs
are clipped to [0, 1].
"""

from __future__ import annotations

from typing import Protocol

import torch


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
        out = torch.where(u < self.sigma / 2, torch.zeros_like(x), x)
        return torch.where((u >= self.sigma / 2) & (u < self.sigma), torch.ones_like(x), out)


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


NOISE_CLASSES = {cls.name: cls for cls in (GaussianNoise, SaltPepperNoise, PoissonNoise)}


def make_noise(name: str, sigma: float) -> Noise:
    return NOISE_CLASSES[name](sigma)
