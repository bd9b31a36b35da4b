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


def spsa_linf(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, iterations: int = 100,
              samples: int = 128, lr: float = 0.01, delta: float = 0.01,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """SPSA (Uesato et al. 2018) with the paper's TABLE VII parameters: ``iterations`` Adam steps of size ``lr`` on
    the margin loss, each gradient estimated from ``samples`` pairs of ±``delta`` Rademacher probes, stopping an
    image at its first success. The estimator and the update are torchattacks' (from advertorch); only the early
    stop, which the paper uses and the library lacks, is added here by freezing finished images."""
    from .autoattack import _library

    class EarlyStoppingSPSA(_library().SPSA):
        def spsa_perturb(self, x, y):  # the library's loop, per image until it first fools the model
            dx = torch.zeros_like(x)
            dx.grad = torch.zeros_like(dx)
            optimizer = torch.optim.Adam([dx], lr=self.lr)
            done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            for _ in range(self.nb_iter):
                with torch.no_grad():
                    done |= self.get_logits(x + dx).argmax(dim=1) != y
                if bool(done.all()):
                    break
                active = torch.nonzero(~done).flatten()
                frozen = dx.detach().clone()
                optimizer.zero_grad()
                grad = torch.zeros_like(dx)
                grad[active] = self.spsa_grad(x[active] + dx[active], y[active], self.delta, self.nb_sample,
                                              self.max_batch_size)
                dx.grad = grad
                optimizer.step()
                with torch.no_grad():
                    dx[done] = frozen[done]  # Adam's momentum would move a finished image on
                dx = self.linf_clamp_(dx, x, self.eps)
            return x + dx

    seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=x.device)) if generator is not None else 0
    attack = EarlyStoppingSPSA(model, eps=eps, delta=delta, lr=lr, nb_iter=iterations, nb_sample=samples,
                               max_batch_size=min(samples, 64))
    cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)  # the probes come from torch's global generator: seed it from ours, then restore
        x_adv = attack(x.detach(), labels)
    return torch.min(torch.max(x_adv.detach(), x - eps), x + eps).clamp(0.0, 1.0)


@torch.no_grad()
def rays_linf(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, queries: int = 10_000,
              tolerance: float = 1e-3) -> torch.Tensor:
    """RayS (Chen & Gu, KDD 2020): a hard-label attack that uses only the predicted class. It searches over sign
    directions d ∈ {−1, 1}^D for the one whose decision boundary is nearest in L∞: blocks of d, halving in size
    at each stage, are flipped in turn and a flip is kept when the boundary along it is nearer (checked with one
    query at the current best radius, then a binary search). An image stops once its boundary lies within ε.

    Written here because no maintained library we use has it (torchattacks and ART do not); the reference is the
    authors' ``RayS_Single``. Returns x + r·d at the best radius r ≤ ε when found, else x + ε·d (not adversarial).
    """
    out = []
    for i in range(x.shape[0]):
        out.append(_rays_one(model, x[i : i + 1], int(labels[i]), eps, queries, tolerance))
    return torch.cat(out)


def _rays_one(model: nn.Module, x: torch.Tensor, label: int, eps: float, queries: int, tolerance: float) -> torch.Tensor:
    spent = 0

    def fooled(r: float, d: torch.Tensor) -> bool:
        nonlocal spent
        spent += 1
        return int(model((x + r * d).clamp(0.0, 1.0)).argmax(1)) != label

    def boundary(d: torch.Tensor, high: float) -> float:
        """Smallest r ≤ ``high`` at which x + r·d is misclassified (``high`` itself is known to be)."""
        low = 0.0
        while high - low > tolerance and spent < queries:
            mid = (low + high) / 2
            if fooled(mid, d):
                high = mid
            else:
                low = mid
        return high

    d = torch.ones_like(x)
    best = boundary(d, 1.0) if fooled(1.0, d) else float("inf")
    flat = d.view(-1)
    size, stage = flat.numel(), 0
    while spent < queries and best > eps:
        blocks = 2**stage
        step = max(1, -(-size // blocks))
        for start in range(0, size, step):
            if spent >= queries or best <= eps:
                break
            flat[start : start + step] *= -1
            probe = best if best < float("inf") else 1.0
            if fooled(probe, d):
                radius = boundary(d, probe)
                if radius < best:
                    best = radius
                    continue  # keep the flip
            flat[start : start + step] *= -1  # undo
        if step == 1:
            break  # every pixel tried on its own: the search is done
        stage += 1
    radius = best if best <= eps else eps
    return (x + radius * d).clamp(0.0, 1.0)
