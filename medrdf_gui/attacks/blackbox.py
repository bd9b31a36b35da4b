"""Square Attack, L∞ (Andriushchenko et al. 2020): a score-based black-box attack using only the model's outputs.

Random square patches of ±ε are proposed on the current perturbation and kept when the margin loss improves;
the patch side shrinks on the paper's schedule as queries are spent. No gradients are used.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _p_schedule(p_init: float, it: int, n_iters: int) -> float:
    """The piecewise-constant fraction of pixels per square from the paper (rescaled to n_iters = 10,000)."""
    it = int(it / n_iters * 10_000)
    for bound, div in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256)):
        if it <= bound:
            return p_init / div
    return p_init / 512


@torch.no_grad()
def _margin(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.clone()
    others.scatter_(1, labels[:, None], float("-inf"))
    return true - others.max(dim=1).values  # < 0 once misclassified


@torch.no_grad()
def square_linf(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, queries: int = 1000,
                p_init: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    b, c, h, w = x.shape
    dev = x.device
    # vertical stripes initialisation
    stripes = (torch.randint(0, 2, (b, c, 1, w), generator=generator, device=dev).float() * 2 - 1) * eps
    x_adv = (x + stripes).clamp(0.0, 1.0)
    margin = _margin(model, x_adv, labels)
    for it in range(1, queries):
        active = margin > 0
        if not active.any():
            break
        p = _p_schedule(p_init, it, queries)
        side = max(1, min(h - 1, int(round(math.sqrt(p * h * w)))))
        candidate = x_adv.clone()
        for i in torch.nonzero(active).flatten().tolist():
            r = int(torch.randint(0, h - side + 1, (1,), generator=generator, device=dev))
            s = int(torch.randint(0, w - side + 1, (1,), generator=generator, device=dev))
            sign = (torch.randint(0, 2, (c, 1, 1), generator=generator, device=dev).float() * 2 - 1) * eps
            window = x[i, :, r : r + side, s : s + side]
            candidate[i, :, r : r + side, s : s + side] = (window + sign).clamp(0.0, 1.0)
        new_margin = _margin(model, candidate, labels)
        better = (new_margin < margin) & active
        x_adv[better] = candidate[better]
        margin = torch.where(better, new_margin, margin)
    return x_adv
