"""White-box L∞ attacks on a classifier (the paper's threat model: the attacker knows the base model only).

Definitions:
* FGSM (Goodfellow et al. 2015): x + ε·sign(∇ CE).
* I-FGSM / BIM (Kurakin et al. 2017): k steps of size ε/k, projected to the ε-ball, no random start.
* PGD (Madry et al. 2018): uniform random start in the ε-ball, k steps of size 2.5·ε/k, projected.
* C&W-L∞ (Carlini & Wagner 2017, as PGD on the margin loss, the L∞ form used by Croce & Hein): PGD whose loss is
  max_{j≠y} z_j − z_y on the logits z.
Every iterate stays in [0, 1] and within ‖δ‖∞ ≤ ε of the clean image.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def margin_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of max_{j≠y} z_j − z_y (positive once misclassified)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.clone()
    others.scatter_(1, labels[:, None], float("-inf"))
    return (others.max(dim=1).values - true).sum()


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, reduction="sum")


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """The nearest image to ``x_adv`` within ‖δ‖∞ ≤ ε of ``x`` and in [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def _gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(model(x), labels)
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def iterative_linf(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int, step_size: float,
                   random_start: bool, loss_fn: LossFn = ce_loss, generator: torch.Generator | None = None) -> torch.Tensor:
    """The shared loop of FGSM / I-FGSM / PGD / C&W-L∞: signed-gradient ascent projected to the ε-ball."""
    x = x.detach()
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
        x_adv = project_linf(x + eps * noise, x, eps)
    for _ in range(steps):
        grad = _gradient(model, x_adv, labels, loss_fn)
        x_adv = project_linf(x_adv + step_size * grad.sign(), x, eps)
    return x_adv.detach()


def fgsm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    return iterative_linf(model, x, labels, eps, steps=1, step_size=eps, random_start=False)


def ifgsm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int) -> torch.Tensor:
    return iterative_linf(model, x, labels, eps, steps=steps, step_size=eps / steps, random_start=False)


def pgd(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
        generator: torch.Generator | None = None) -> torch.Tensor:
    return iterative_linf(model, x, labels, eps, steps=steps, step_size=2.5 * eps / steps, random_start=True,
                          generator=generator)


def cw_linf(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 30,
            generator: torch.Generator | None = None) -> torch.Tensor:
    return iterative_linf(model, x, labels, eps, steps=steps, step_size=2.5 * eps / steps, random_start=True,
                          loss_fn=margin_loss, generator=generator)
