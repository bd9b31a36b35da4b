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


def _margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per image max_{j≠y} z_j − z_y (positive once misclassified)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.clone()
    others.scatter_(1, labels[:, None], float("-inf"))
    return others.max(dim=1).values - true


def alert_aware_pgd(model, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 100,
                    generator: torch.Generator | None = None, kappa: float = 2.0, beta: float = 10.0,
                    aim: float = 0.9) -> torch.Tensor:
    """PGD against the classifier *and* every image-based alert the model's card has: the scope score and the
    squeezing statistic, each pushed below ``aim`` × its threshold while the margin of a wrong class grows to
    ``kappa`` (a C&W-style objective: margin capped at κ − β·Σ relu(score/threshold − aim)). ``model`` is a
    LoadedModel (its card holds the thresholds); without fitted detectors this is PGD on the capped margin."""
    from ..modelzoo.scope import captured_features

    module = model.module
    scope = getattr(model, "scope", None)
    layers = scope.layers if scope is not None and scope.stats is not None else []
    squeeze_t = float((getattr(model.card, "detector", None) or {}).get("threshold", 0.0)) or None
    views = SqueezedViews(module)
    b = x.shape[0]
    x = x.detach()
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    x_adv = torch.min(torch.max(x + eps * noise, x - eps), x + eps).clamp(0.0, 1.0)
    step = 2.5 * eps / steps
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            with captured_features(module, layers, detach=False) as seen:
                logits = views(x_adv) if squeeze_t else module(x_adv)
            plain = logits[:b]
            loss = _margins(plain, labels).clamp(max=kappa)
            if layers:
                score = scope.scores({n: seen[n][-1][:b] for n in layers}, plain)
                loss = loss - beta * torch.relu(score / scope.threshold - aim)
            if squeeze_t:
                probs = torch.softmax(logits.float(), dim=1).view(-1, b, logits.shape[1])
                moved = (probs[1:] - probs[:1]).abs().sum(dim=2).amax(dim=0)
                loss = loss - beta * torch.relu(moved / squeeze_t - aim)
            (grad,) = torch.autograd.grad(loss.sum(), x_adv)
        x_adv = x_adv.detach() + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach()
