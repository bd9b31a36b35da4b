"""Synthetic classifiers with known vote probabilities, shared by the statistical tests, and the accuracy and
L∞-budget checks the attack tests share."""

from __future__ import annotations

import torch
from scipy.stats import norm
from torch import nn

from medrdf_gui.robust import RobustSettings

CLASSES = ["a", "b", "c"]


class KnownPA(nn.Module):
    """Votes class 0 when the noisy top-left pixel is below 0.5 + σ·Φ⁻¹(p_A), else class 1.

    Under gaussian noise on a constant 0.5 image (median filter off) that pixel is N(0.5, σ²), so each copy
    votes for class 0 with probability exactly p_A and for class 1 otherwise.
    """

    def __init__(self, p_a: float, sigma: float) -> None:
        super().__init__()
        self.cut = 0.5 + sigma * float(norm.ppf(p_a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = (x[:, 0, 0, 0] < self.cut).float()
        return torch.stack([first, 1 - first, torch.full_like(first, -1.0)], dim=1)


def _image() -> torch.Tensor:
    return torch.full((1, 1, 8, 8), 0.5)


def _settings(**kw) -> RobustSettings:
    base = dict(noise="gaussian", sigma=0.1, denoiser="none", n=100, n0=1, batch_size=100, device="cpu", seed=0)
    base.update(kw)
    return RobustSettings(**base)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on (x, y), without gradients."""
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def check_budget(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> None:
    """An adversarial image stays within ‖x_adv − x‖∞ ≤ ε and inside [0, 1]."""
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
