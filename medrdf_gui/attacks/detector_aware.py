"""An attacker who knows the feature-squeezing detector (robust/squeeze.py).

Carlini & Wagner (2017) and He et al. (2017) evade detectors by attacking the detector's own statistic together
with the classifier. Feature squeezing flags an image when the model's answer on a squeezed copy differs from its
answer on the image; ``pgd100-squeeze`` therefore runs PGD-100 on the summed cross-entropy of the image *and* of
each squeezed copy, so that all of them name the same wrong class and the statistic stays small. The median has
no useful gradient (one-hot per pixel) and rounding none at all: BPDA uses the 3×3 mean filter for the median (as
the adaptive attack on MedRDF does) and the identity for the rounding.
"""

from __future__ import annotations

import torch
from torch import nn

from ..robust.squeeze import SQUEEZERS
from .adaptive import mean_filter, straight_through
from .whitebox import ce_loss, iterative_linf


class SqueezedViews(nn.Module):
    """h of the image and of each squeezed copy, stacked along the batch ([x; median(x); bits(x)])."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.surrogates = {"median3": mean_filter(3)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = [x] + [straight_through(fn, x, self.surrogates.get(name)) for name, fn in SQUEEZERS.items()]
        return self.model(torch.cat(views))


def pgd_squeeze(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 100,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """PGD (random start, step 2.5ε/steps) on Σ over the views of CE, through :class:`SqueezedViews`."""
    views = 1 + len(SQUEEZERS)
    return iterative_linf(SqueezedViews(model), x, labels, eps, steps=steps, step_size=2.5 * eps / steps,
                          random_start=True, loss_fn=lambda z, y: ce_loss(z, y.repeat(views)), generator=generator)
