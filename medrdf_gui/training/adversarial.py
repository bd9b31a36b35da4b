"""Adversarial training objectives at an L∞ budget ε on pixels in [0, 1]: PGD-AT, TRADES and MART.

* **PGD-AT** (Madry et al. 2018): minimise CE on the worst case in the ε-ball, found by k signed-gradient steps
  from a uniform random start. With k = 1 and step 1.25ε this is "fast" adversarial training, FGSM with a random
  start (Wong, Rice & Kolter 2020), whose known failure (catastrophic overfitting: PGD accuracy collapses within
  an epoch while FGSM accuracy soars) the trainer guards against by measuring held-out PGD accuracy every epoch
  and keeping the best epoch.
* **TRADES** (Zhang et al. 2019): CE(f(x), y) + β·KL(f(x) ‖ f(x′)), x′ maximising the KL from a small gaussian
  start.
* **MART** (Wang et al. 2020): boosted CE on x′ (CE plus −log(1 − the largest wrong probability)) +
  β·KL(f(x) ‖ f(x′))·(1 − f_y(x)), which weighs misclassified examples more.

Written here rather than taken from a library: the maintained attack libraries (torchattacks, ART) attack a fixed
model, while these objectives need the inner maximisation and the outer loss fused with our trainer's augmentation,
BN handling and ε curriculum; each is a dozen lines and tested against its definition (tests/test_adversarial_training.py).

Batch-norm statistics are frozen while the attack is crafted (the module is put in eval mode for the inner loop)
so that adversarial batches do not leak into the running averages twice, and restored to train mode for the
update, as in the reference implementations' fast-AT variant the project probed first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

METHODS = ("pgd-at", "trades", "mart")


@dataclass(frozen=True)
class AdversarialConfig:
    method: str = "pgd-at"  # one of METHODS
    epsilon: float = 8 / 255
    steps: int = 1  # inner attack steps; 1 = FGSM with a random start
    step_size: float | None = None  # None: 1.25ε for one step, 2.5ε/steps otherwise
    beta: float = 6.0  # TRADES / MART regulariser weight
    eps_warmup: float = 0.3  # ε ramps linearly from 0 over this fraction of all optimiser steps
    init_from: str | None = None  # shipped model (card name) to fine-tune from; None trains from scratch
    val_images: int = 120  # class-balanced val subset for the held-out PGD check each epoch
    val_steps: int = 10  # PGD steps of that check

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown adversarial method {self.method!r}; expected one of {METHODS}")
        if self.steps < 1 or self.epsilon <= 0:
            raise ValueError("adversarial training needs steps >= 1 and epsilon > 0")

    def alpha(self, eps: float) -> float:
        if self.step_size is not None:
            return self.step_size * eps / self.epsilon
        return 1.25 * eps if self.steps == 1 else 2.5 * eps / self.steps

    def epsilon_at(self, step: int, total_steps: int) -> float:
        """The curriculum: ε·min(1, step / (warm-up · total)), never 0 after the first step."""
        warm = self.eps_warmup * total_steps
        if warm <= 0:
            return self.epsilon
        return self.epsilon * min(1.0, (step + 1) / warm)


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def _kl(logits_nat: torch.Tensor, logits_adv: torch.Tensor) -> torch.Tensor:
    """Per-example KL(softmax(nat) ‖ softmax(adv)), [B]."""
    return F.kl_div(F.log_softmax(logits_adv, 1), F.log_softmax(logits_nat, 1), reduction="none", log_target=True).sum(1)


def craft(module: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: AdversarialConfig, eps: float,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """The inner maximisation of ``cfg.method`` at budget ``eps``; returns x′ with ‖x′ − x‖∞ ≤ eps, in [0, 1]."""
    was_training = module.training
    module.eval()
    x = x.detach()
    alpha = cfg.alpha(eps)
    try:
        if cfg.method == "trades":
            with torch.no_grad():
                target = F.log_softmax(module(x), 1)
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x_adv = _project(x + 0.001 * noise, x, eps)
        else:
            noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
            x_adv = _project(x + eps * noise, x, eps)
        for _ in range(cfg.steps):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                logits = module(x_adv)
                if cfg.method == "trades":
                    loss = F.kl_div(F.log_softmax(logits, 1), target, reduction="sum", log_target=True)
                else:
                    loss = F.cross_entropy(logits, y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = _project(x_adv.detach() + alpha * grad.sign(), x, eps)
    finally:
        module.train(was_training)
    return x_adv.detach()


def adversarial_loss(module: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                     cfg: AdversarialConfig, criterion: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The outer loss of ``cfg.method`` and the logits the training accuracy is counted on (the adversarial ones).

    ``criterion`` is the recipe's cross-entropy (class weights, label smoothing) used wherever the method has CE.
    """
    if cfg.method == "pgd-at":
        logits_adv = module(x_adv)
        return criterion(logits_adv, y), logits_adv
    # TRADES and MART need the natural and the adversarial logits; one forward over both keeps BN statistics
    # from one mixed batch, as the reference implementations' separate calls would not.
    both = module(torch.cat([x, x_adv]))
    logits_nat, logits_adv = both[: x.shape[0]], both[x.shape[0]:]
    if cfg.method == "trades":
        loss = criterion(logits_nat, y) + cfg.beta * _kl(logits_nat, logits_adv).mean()
        return loss, logits_adv
    # MART
    probs_adv = F.softmax(logits_adv, 1)
    wrong = probs_adv.clone()
    wrong.scatter_(1, y[:, None], -1.0)
    top_wrong = wrong.argmax(1)
    boosted = criterion(logits_adv, y) + F.nll_loss(torch.log(1.0001 - probs_adv + 1e-12), top_wrong)
    true_nat = F.softmax(logits_nat, 1).gather(1, y[:, None]).squeeze(1)
    loss = boosted + cfg.beta * (_kl(logits_nat, logits_adv) * (1.0000001 - true_nat)).mean()
    return loss, logits_adv


def balanced_subset(labels: torch.Tensor, total: int, seed: int) -> torch.Tensor:
    """Indices of up to ``total`` examples, as equal per class as the classes allow, drawn at a fixed seed."""
    gen = torch.Generator().manual_seed(seed)
    classes = labels.unique().tolist()
    per_class = {c: torch.nonzero(labels == c).flatten() for c in classes}
    per_class = {c: idx[torch.randperm(idx.numel(), generator=gen)] for c, idx in per_class.items()}
    chosen: list[torch.Tensor] = []
    remaining, left = total, list(classes)
    while remaining > 0 and left:
        share = max(1, remaining // len(left))
        nxt = []
        for c in left:
            take = per_class[c][:share]
            per_class[c] = per_class[c][share:]
            chosen.append(take)
            remaining -= take.numel()
            if per_class[c].numel():
                nxt.append(c)
            if remaining <= 0:
                break
        left = nxt
    return torch.cat(chosen)[:total].sort().values


def robust_accuracy(module: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
                    batch_size: int = 64, seed: int = 0) -> tuple[float, float]:
    """(natural, PGD-``steps``) accuracy of ``module`` on uint8 or float images, in eval mode."""
    from ..attacks.whitebox import pgd

    module.eval()
    gen = torch.Generator(device=images.device).manual_seed(seed)
    nat = adv = 0
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start : start + batch_size]
        x = chunk.float().div(255.0) if chunk.dtype == torch.uint8 else chunk
        y = labels[start : start + batch_size]
        with torch.no_grad():
            nat += int((module(x).argmax(1) == y).sum())
        x_adv = pgd(module, x, y, eps, steps, generator=gen)
        with torch.no_grad():
            adv += int((module(x_adv).argmax(1) == y).sum())
    n = max(1, images.shape[0])
    return nat / n, adv / n
