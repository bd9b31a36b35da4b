"""AG-Sononet-16 (Schlemper et al., "Attention gated networks: learning to leverage salient regions in medical
images", Medical Image Analysis 53, 2019): the attention-gated classifier behind the MedRDF paper's TABLE V.

Written here from the paper's description because no maintained library ships it (the authors' research
repository, ozan-oktay/Attention-Gated-Networks, is unmaintained and built on an old PyTorch and its own training
framework). The choices, and why:

* **Backbone: Sononet-16** (Baumgartner et al. 2017; "16" is the width of the first block, not a layer count).
  Five VGG-like stages ``layer1`` … ``layer5`` of 3×3 convolution + batch norm + ReLU, with (3, 3, 3, 2, 2)
  convolutions (13 in all, the authors' AG-Sononet-16 setting) and widths (16, 32, 64, 128, 128), a 2×2 max-pool
  in front of stages 2–5: 224×224 → 224, 112, 56, 28, 14. The stages carry
  ResNet's ``layerN`` names so that the scope detector (``modelzoo/scope.py``) finds them; Grad-CAM uses
  ``net.layer5``, the last convolutional stage (:data:`~medrdf_gui.modelzoo.architectures.GRADCAM_LAYERS`).
* **Small inputs** (``small_input=True``, for 28×28 DermaMNIST): the pool in front of ``layer2`` is dropped,
  28×28 → 28, 28, 14, 7, 3, so that the gated maps (14×14, 7×7) and the gating signal (3×3) keep a spatial grid.
* **Grid attention gates** ``gate3`` and ``gate4`` on the features x of ``layer3`` and ``layer4``, both gated by
  g = ``layer5`` (the coarsest features), as in the paper's AG-Sononet: additive attention
  α = σ(ψᵀ ReLU(W_x x + W_g g↑) + b_ψ), 1×1 convolutions with ``W_g g`` bilinearly upsampled to x's grid, and
  the sigmoid normalisation, so that every coefficient lies in [0, 1] on its own and the maps can be shown as
  they are. The gated features are α·x (no output transform).
* **Global attention pooling**: each gated map is summed over space and divided by the summed attention,
  Σ_i α_i x_i / Σ_i α_i — the paper's attention-weighted sum, normalised. Why: the shipped recipes resize
  progressively (cxr3: 128 → 176 → 224 px), and an unnormalised sum would change scale with the resolution.
* **Aggregation: concatenation** (the paper's "concat" mode): the two pooled gated vectors (64 + 128) and the
  global average of ``layer5`` (128) go into one linear layer, ``classifier``. One loss, no deep supervision, so
  the network trains with the shared trainer like every other architecture.

:meth:`AGSononet.attention_maps` returns the gates' coefficients for a batch, upsampled to its size; nothing is
kept between calls, so a model shared by the engine, Grad-CAM and the GUI has no state to race on.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 32, 64, 128, 128)
CONVS = (3, 3, 3, 2, 2)
GATED = ("layer3", "layer4")  # the stages whose features the gates weigh, in the order of the classifier's input


def _stage(cin: int, cout: int, convs: int, pool: bool) -> nn.Sequential:
    """[max-pool or identity, then ``convs`` × (3×3 conv, BN, ReLU)]: the identity keeps the parameter names of a
    stage the same with and without its pool."""
    layers: list[nn.Module] = [nn.MaxPool2d(2) if pool else nn.Identity()]
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class GridAttentionGate(nn.Module):
    """Additive attention of local features x [B, C, h, w] given a coarser gating signal g [B, C_g, h', w']:
    α = σ(ψ(ReLU(W_x x + upsample(W_g g)))) ∈ [0, 1], one coefficient per position of x, shape [B, 1, h, w]."""

    def __init__(self, channels: int, gating_channels: int, inter_channels: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, inter_channels, 1, bias=False)  # W_x
        self.phi = nn.Conv2d(gating_channels, inter_channels, 1)  # W_g (its bias is the additive term's)
        self.psi = nn.Conv2d(inter_channels, 1, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        gate = F.interpolate(self.phi(g), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.psi(F.relu(self.theta(x) + gate)))


def attention_pool(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Σ_i α_i x_i / Σ_i α_i over the positions i: [B, C] (the attention-weighted mean of the local features)."""
    weight = alpha.sum(dim=(2, 3)).clamp(min=1e-6)
    return (x * alpha).sum(dim=(2, 3)) / weight


class AGSononet(nn.Module):
    """AG-Sononet-16 returning logits [B, num_classes] for (normalised) images [B, channels, H, W]."""

    def __init__(self, num_classes: int, channels: int, small_input: bool = False) -> None:
        super().__init__()
        cin = channels
        for index, (width, convs) in enumerate(zip(WIDTHS, CONVS), start=1):
            pool = index > 2 or (index == 2 and not small_input)
            self.add_module(f"layer{index}", _stage(cin, width, convs, pool))
            cin = width
        self.gate3 = GridAttentionGate(WIDTHS[2], WIDTHS[4], WIDTHS[4])
        self.gate4 = GridAttentionGate(WIDTHS[3], WIDTHS[4], WIDTHS[4])
        self.classifier = nn.Linear(WIDTHS[2] + WIDTHS[3] + WIDTHS[4], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _gated(self, x: torch.Tensor) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """({stage: (its features, their attention)} for the gated stages, the ``layer5`` features)."""
        x3 = self.layer3(self.layer2(self.layer1(x)))
        x4 = self.layer4(x3)
        g = self.layer5(x4)
        return {"layer3": (x3, self.gate3(x3, g)), "layer4": (x4, self.gate4(x4, g))}, g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated, g = self._gated(x)
        pooled = [attention_pool(*gated[name]) for name in GATED]
        return self.classifier(torch.cat([*pooled, g.mean(dim=(2, 3))], dim=1))

    def attention_maps(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
        """The gates' attention coefficients for the batch ``x`` (the network's own, normalised input):
        ``{"layer3": [B, H, W], "layer4": [B, H, W]}`` in [0, 1], keyed by the stage each gate weighs, bilinearly
        upsampled to ``size`` (default: x's height and width). Not rescaled: 1 means "passed through untouched".
        Gradients follow the caller's mode; wrap the call in ``torch.no_grad()`` to only look."""
        gated, _ = self._gated(x)
        size = tuple(size or x.shape[-2:])
        return {name: F.interpolate(alpha, size=size, mode="bilinear", align_corners=False).squeeze(1)
                for name, (_, alpha) in gated.items()}


def agsononet16(num_classes: int, channels: int, small_input: bool = False, **_: Any) -> AGSononet:
    return AGSononet(num_classes, channels, small_input=small_input)
