"""Adaptive attack on the defended pipeline itself: PGD with Expectation over Transformation (EOT) over the
noise draws and BPDA through the median filter (Athalye et al. 2018; Tramèr et al. 2020).

The smoothed classifier the attacker targets is the mean softmax of h(denoise(noise(x))) over ``draws`` noise
samples per step. The median filter has a useless (sparse, piecewise) gradient, so on the backward pass it is
replaced by the identity (BPDA, straight-through): forward uses the true median, backward passes the gradient
as if denoise(z) = z. Noise and clipping are differentiated as they are (salt-and-pepper: zero gradient at
replaced pixels; gaussian/poisson: identity / straight-through for the Poisson draw).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..robust.denoise import Denoiser
from ..robust.noise import Noise, PoissonNoise


def straight_through(fn, z: torch.Tensor) -> torch.Tensor:
    """fn(z) forward, identity backward."""
    return z + (fn(z) - z).detach()


def eot_pgd(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, noise: Noise, denoise: Denoiser,
            steps: int = 20, draws: int = 16, step_size: float | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """L∞ PGD (random start) on E_noise[softmax(h(denoise(noise(x))))] with BPDA for the denoiser."""
    step_size = step_size if step_size is not None else 2.5 * eps / steps
    x = x.detach()
    gen = generator or torch.Generator(device=x.device).manual_seed(0)
    start = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
    x_adv = torch.min(torch.max(x + eps * start, x - eps), x + eps).clamp(0.0, 1.0)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            batch = x_adv.repeat_interleave(draws, dim=0)
            if isinstance(noise, PoissonNoise):
                noisy = straight_through(lambda z: noise(z, gen), batch)
            else:
                noisy = noise(batch, gen)
            denoised = straight_through(denoise, noisy)
            probs = F.softmax(model(denoised), dim=1).view(x.shape[0], draws, -1).mean(dim=1)
            loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach()
