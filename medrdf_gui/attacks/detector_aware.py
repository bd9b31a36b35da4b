"""Attackers who know the app's alerts: the feature-squeezing detector (robust/squeeze.py), the out-of-scope score
(modelzoo/scope.py) and, against MedRDF, the base-disagreement alert and the vote itself.

Carlini & Wagner (2017) and He et al. (2017) evade detectors by attacking the detector's own statistic together
with the classifier. Feature squeezing flags an image when the model's answer on a squeezed copy differs from its
answer on the image; ``pgd100-squeeze`` therefore runs PGD-100 on the summed cross-entropy of the image *and* of
each squeezed copy, so that all of them name the same wrong class and the statistic stays small. The median has
no useful gradient (one-hot per pixel) and rounding none at all: BPDA uses the 3×3 mean filter for the median (as
the adaptive attack on MedRDF does) and the identity for the rounding.

``pgd100-aware`` attacks the base model and both image-based alerts; ``eot-pgd-aware`` is the full adaptive
attacker against the final flag: EOT over MedRDF's noise with smooth BPDA through the median for the vote (as
``eot-pgd-smooth``), the base model's own margin so that the base-disagreement alert stays quiet, and the scope
and squeezing penalties, all in one objective. No attack library knows these alerts, hence our own code.
"""

from __future__ import annotations

import torch
from torch import nn

from ..robust.denoise import Denoiser
from ..robust.noise import Noise
from ..robust.squeeze import SQUEEZERS
from .adaptive import DefendedPipeline, mean_filter, straight_through
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


class _AlertObjective:
    """The base model's capped wrong-class margin minus β × (each fitted alert's score above ``aim`` × its
    threshold), per image: a C&W-style objective that fools the model while the scope score and the squeezing
    statistic stay under their thresholds. ``model`` is a LoadedModel (its card holds the thresholds); without
    fitted detectors it is the capped margin alone."""

    def __init__(self, model, kappa: float, beta: float, aim: float) -> None:
        self.module = model.module
        scope = getattr(model, "scope", None)
        self.scope = scope
        self.layers = scope.layers if scope is not None and scope.stats is not None else []
        self.squeeze_t = float((getattr(model.card, "detector", None) or {}).get("threshold", 0.0)) or None
        self.views = SqueezedViews(self.module)
        self.kappa, self.beta, self.aim = kappa, beta, aim

    def __call__(self, x_adv: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        from ..modelzoo.scope import captured_features

        b = x_adv.shape[0]
        with captured_features(self.module, self.layers, detach=False) as seen:
            logits = self.views(x_adv) if self.squeeze_t else self.module(x_adv)
        plain = logits[:b]
        loss = _margins(plain, labels).clamp(max=self.kappa)
        if self.layers:
            score = self.scope.scores({n: seen[n][-1][:b] for n in self.layers}, plain)
            loss = loss - self.beta * torch.relu(score / self.scope.threshold - self.aim)
        if self.squeeze_t:
            probs = torch.softmax(logits.float(), dim=1).view(-1, b, logits.shape[1])
            moved = (probs[1:] - probs[:1]).abs().sum(dim=2).amax(dim=0)
            loss = loss - self.beta * torch.relu(moved / self.squeeze_t - self.aim)
        return loss


def _signed_pgd(objective, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
                generator: torch.Generator | None) -> torch.Tensor:
    """L∞ PGD ascending ``objective(x_adv, labels)`` (per image), random start, step 2.5ε/steps."""
    x = x.detach()
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    x_adv = torch.min(torch.max(x + eps * noise, x - eps), x + eps).clamp(0.0, 1.0)
    step = 2.5 * eps / steps
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(objective(x_adv, labels).sum(), x_adv)
        x_adv = x_adv.detach() + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach()


def alert_aware_pgd(model, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 100,
                    generator: torch.Generator | None = None, kappa: float = 2.0, beta: float = 10.0,
                    aim: float = 0.9) -> torch.Tensor:
    """PGD against the classifier *and* every image-based alert the model's card has: the scope score and the
    squeezing statistic, each pushed below ``aim`` × its threshold while the margin of a wrong class grows to
    ``kappa`` (margin capped at κ − β·Σ relu(score/threshold − aim)); see :class:`_AlertObjective`."""
    return _signed_pgd(_AlertObjective(model, kappa, beta, aim), x, labels, eps, steps, generator)


def eot_alert_aware_pgd(model, x: torch.Tensor, labels: torch.Tensor, eps: float, noise: Noise, denoise: Denoiser,
                        steps: int = 20, draws: int = 16, generator: torch.Generator | None = None,
                        kappa: float = 2.0, beta: float = 10.0, aim: float = 0.9) -> torch.Tensor:
    """The adaptive attacker against the final flag: :class:`_AlertObjective` (base model wrong, scope and
    squeezing quiet) plus the wrong-class margin of MedRDF's smoothed classifier, log E_noise[softmax] over
    ``draws`` draws per step with smooth BPDA through the denoiser, capped at ``kappa`` like the base margin. Both
    margins positive means the vote and the base model name the same wrong class region."""
    gen = generator or torch.Generator(device=x.device).manual_seed(0)
    defended = DefendedPipeline(model.module, noise, denoise, gen, "smooth")
    alerts = _AlertObjective(model, kappa, beta, aim)

    def objective(x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = defended(x_adv.repeat_interleave(draws, dim=0))
        probs = torch.softmax(logits, dim=1).view(x_adv.shape[0], draws, -1).mean(dim=1)
        smoothed = _margins(torch.log(probs.clamp_min(1e-12)), y).clamp(max=kappa)
        return smoothed + alerts(x_adv, y)

    return _signed_pgd(objective, x, labels, eps, steps, gen)
