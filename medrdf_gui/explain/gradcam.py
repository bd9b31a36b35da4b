"""Grad-CAM (Selvaraju et al., ICCV 2017) of one target layer, on batches.

One small class in the pytorch-grad-cam pattern (``GradCAM(model, target_layer)(images, targets)``) instead of
that package: it pulls OpenCV, scikit-learn and ttach for a few lines of arithmetic, and its per-call CPU
round trips get in the way of batching the defended map's copies on the GPU. The target-layer convention is
the same: the map is ReLU(Σ_k w_k A_k) over the layer's output channels A_k, with w_k the spatial mean of
∂y_c/∂A_k, upsampled bilinearly to the image.

Gradients are taken with ``torch.autograd.grad`` with respect to the captured activations, so the model's
parameters are never touched (shipped models have ``requires_grad`` off) and nothing accumulates in ``.grad``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ExplainError


def resolve_target_layer(module: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name`` (dotted, as in a model card: ``"net.layer4"``) of ``module``."""
    try:
        return module.get_submodule(name)
    except AttributeError:
        raise ExplainError(f"The model has no layer '{name}' for Grad-CAM; check the card's target_layer.") from None


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Scale each map of a [B, H, W] batch by its maximum, so that it spans [0, 1] and stays finite.

    Divided by the maximum, not min-max stretched: after the ReLU a zero means "no positive evidence for the
    class" and should stay zero. An all-zero map (no evidence anywhere) is returned as zeros.
    """
    maps = torch.nan_to_num(maps.float(), nan=0.0, posinf=0.0, neginf=0.0).clamp_(min=0.0)
    peak = maps.amax(dim=(-2, -1), keepdim=True)
    return torch.where(peak > 0, maps / peak.clamp(min=torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))


def upsample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a [B, h, w] batch of maps to ``size`` (height, width)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False).squeeze(1)


class GradCAM:
    """Grad-CAM of ``target_layer`` of ``module`` (a classifier returning logits [B, K]).

    The forward hook lives only for the duration of one call, so a model shared with the engine or the GUI is
    left exactly as it was found; the module's train/eval mode is not changed either.
    """

    def __init__(self, module: nn.Module, target_layer: str | nn.Module) -> None:
        self.module = module
        if isinstance(target_layer, str):
            self.target_layer_name = target_layer
            self.target_layer = resolve_target_layer(module, target_layer)
        else:
            self.target_layer_name = type(target_layer).__name__
            self.target_layer = target_layer

    def raw(self, images: torch.Tensor, targets: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Unnormalised maps [B, h, w] at the target layer's resolution for the class(es) ``targets``.

        Works inside ``torch.inference_mode``/``no_grad`` callers: gradients are switched on locally, and the
        input is cloned so that an inference tensor can enter autograd.
        """
        captured: list[torch.Tensor] = []
        handle = self.target_layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            with torch.inference_mode(False), torch.enable_grad():
                x = images.detach().clone().float().requires_grad_(True)
                logits = self.module(x)
                if not captured:
                    raise ExplainError(f"The Grad-CAM layer '{self.target_layer_name}' is not used by the model's forward pass.")
                activations = captured[-1]
                if not isinstance(activations, torch.Tensor) or activations.dim() != 4:
                    raise ExplainError(f"The Grad-CAM layer '{self.target_layer_name}' does not output a [B, C, H, W] feature map.")
                index = torch.as_tensor(targets, dtype=torch.long, device=logits.device).reshape(-1)
                index = index.expand(logits.shape[0]) if index.numel() == 1 else index
                if index.numel() != logits.shape[0] or bool((index < 0).any()) or bool((index >= logits.shape[1]).any()):
                    raise ExplainError(f"Grad-CAM target class out of range for a model with {logits.shape[1]} classes.")
                score = logits.gather(1, index.view(-1, 1)).sum()  # samples are independent: one backward for all
                (gradients,) = torch.autograd.grad(score, activations)
        finally:
            handle.remove()
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        return torch.relu((weights * activations).sum(dim=1)).detach()

    def __call__(self, images: torch.Tensor, targets: int | Sequence[int] | torch.Tensor,
                 size: tuple[int, int] | None = None) -> torch.Tensor:
        """Maps [B, H, W] in [0, 1], at ``size`` (default: the images' own size)."""
        cams = self.raw(images, targets)
        return normalise_maps(upsample_maps(cams, size or tuple(images.shape[-2:])))
