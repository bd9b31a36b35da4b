"""Adaptive attack on the defended pipeline itself: PGD with Expectation over Transformation (EOT) over the
noise draws and BPDA through the denoiser (Athalye et al. 2018; Tramèr et al. 2020).

The smoothed classifier the attacker targets is the mean softmax of h(denoise(noise(x))) over ``draws`` noise
samples per step. The forward pass always uses the true denoiser; the backward pass (BPDA) uses a surrogate:

* ``bpda="identity"``: as if denoise(z) = z, for every denoiser (straight-through).
* ``bpda="smooth"``: the gradient of a differentiable stand-in that behaves like the denoiser: a k×k mean
  filter for the k×k median (both average a neighbourhood; the median's own gradient is one-hot per pixel and
  useless), and the gaussian smoothing's own exact gradient. Why both: at 224² the identity ignores that the
  median erases isolated pixel changes, so its steps are wasted on perturbations the filter removes.

Noise and clipping are differentiated as they are (salt-and-pepper: zero gradient at replaced pixels;
gaussian/poisson: identity / straight-through for the Poisson draw).

``DefendedPipeline`` is one draw of that pipeline as an ``nn.Module`` (noise ▸ denoise with BPDA ▸ h): ``eot_pgd``
averages it over draws itself, and an attack library that does its own EOT (AutoAttack's rand version,
attacks/autoattack.py) takes it as the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..robust.denoise import Denoiser, GaussianSmoothing, MedianFilter, symmetric_pad
from ..robust.noise import Noise, PoissonNoise

BPDA_MODES = ("identity", "smooth")


def straight_through(fn, z: torch.Tensor, surrogate=None) -> torch.Tensor:
    """fn(z) forward; backward through ``surrogate(z)`` (the identity when None)."""
    stand_in = z if surrogate is None else surrogate(z)
    return stand_in + (fn(z) - stand_in).detach()


def mean_filter(size: int):
    """k×k box mean with the median filter's border rule (scipy ``reflect``): the median's smooth stand-in."""

    def run(z: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(symmetric_pad(z, size // 2), size, stride=1)

    return run


def backward_surrogate(denoise: Denoiser, bpda: str):
    """The function whose gradient BPDA uses for ``denoise`` (None means the identity)."""
    if bpda not in BPDA_MODES:
        raise ValueError(f"unknown BPDA mode '{bpda}' (known: {', '.join(BPDA_MODES)})")
    if bpda == "identity":
        return None
    if isinstance(denoise, MedianFilter) and denoise.size > 1:
        return mean_filter(denoise.size)
    if isinstance(denoise, GaussianSmoothing):
        return denoise  # differentiable: its exact gradient
    return None


class DefendedPipeline(nn.Module):
    """h(denoise(noise(x))) with one fresh noise draw per call, differentiable for an attacker: the forward pass is
    the defence's own, the backward pass goes through the BPDA surrogate of the denoiser and straight through a
    Poisson draw. Noise comes from ``generator``, so a seeded attack is reproducible."""

    def __init__(self, model: nn.Module, noise: Noise, denoise: Denoiser, generator: torch.Generator,
                 bpda: str = "identity") -> None:
        super().__init__()
        self.model = model  # a submodule: attack libraries find the device and switch eval mode through it
        self.noise, self.denoise, self.generator = noise, denoise, generator
        self.surrogate = backward_surrogate(denoise, bpda)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.noise, PoissonNoise):
            noisy = straight_through(lambda z: self.noise(z, self.generator), x)
        else:
            noisy = self.noise(x, self.generator)
        return self.model(straight_through(self.denoise, noisy, self.surrogate))


def eot_pgd(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, noise: Noise, denoise: Denoiser,
            steps: int = 20, draws: int = 16, step_size: float | None = None,
            generator: torch.Generator | None = None, bpda: str = "identity") -> torch.Tensor:
    """L∞ PGD (random start) on E_noise[softmax(h(denoise(noise(x))))] with BPDA for the denoiser."""
    step_size = step_size if step_size is not None else 2.5 * eps / steps
    x = x.detach()
    gen = generator or torch.Generator(device=x.device).manual_seed(0)
    defended = DefendedPipeline(model, noise, denoise, gen, bpda)
    start = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
    x_adv = torch.min(torch.max(x + eps * start, x - eps), x + eps).clamp(0.0, 1.0)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            logits = defended(x_adv.repeat_interleave(draws, dim=0))
            probs = F.softmax(logits, dim=1).view(x.shape[0], draws, -1).mean(dim=1)
            loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach()
