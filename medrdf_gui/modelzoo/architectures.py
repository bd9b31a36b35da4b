"""Network definitions, by the name a model card gives in ``architecture``.

Every shipped network is wrapped in :class:`NormalizedClassifier`, whose forward takes pixels in [0, 1] and
normalises inside (the RobustBench / torchattacks convention), so that noise levels and attack budgets such as
ε = 8/255 are expressed in image units and mean what the paper means.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from . import resnet
from .agsononet import agsononet16


class NormalizedClassifier(nn.Module):
    """``logits = net((x − mean) / std)`` for x in [0, 1]; mean/std are buffers taken from the model card."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """What ``net`` sees of pixels ``x`` in [0, 1] (for the network's own methods, e.g. attention maps)."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalise(x))


def _resnet(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def build(num_classes: int, channels: int, small_input_stem: bool = False, stem_pool: bool = False,
              **_: Any) -> nn.Module:
        net = factory(num_classes=num_classes, channels=channels)
        if small_input_stem:
            # 28×28 inputs (DermaMNIST): a 3×3 stride-1 stem instead of 7×7 stride 2. Without the max-pool
            # (MedMNIST's choice) layer1 runs at 28×28; ``stem_pool`` keeps it (14×14, a quarter of the compute).
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            if not stem_pool:
                net.maxpool = nn.Identity()
        return net

    return build


class TinyCNN(nn.Module):
    """A few-thousand-parameter CNN for tests and smoke runs; ``layer4`` mirrors ResNet's name for Grad-CAM."""

    def __init__(self, num_classes: int, channels: int, width: int = 8, **_: Any) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.layer4 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer4(self.stem(x)))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": _resnet(resnet.resnet18),  # our own definition, torchvision's names (modelzoo/resnet.py)
    "resnet50": _resnet(resnet.resnet50),
    "tinycnn": TinyCNN,
    "agsononet16": agsononet16,  # the paper's TABLE V network, our own definition (modelzoo/agsononet.py)
}

# The card's Grad-CAM layer (``target_layer``) for each architecture whose last convolutional stage is not ResNet's
# ``layer4``; training and the test models write it into the cards they make.
GRADCAM_LAYERS: dict[str, str] = {"agsononet16": "net.layer5"}


def gradcam_layer(architecture: str) -> str:
    """The default Grad-CAM target layer of ``architecture``: its last convolutional stage, inside the wrapper."""
    return GRADCAM_LAYERS.get(architecture, "net.layer4")


def build_network(architecture: str, num_classes: int, channels: int, **options: Any) -> nn.Module:
    """Instantiate an untrained network; raises KeyError for an unknown architecture name."""
    return ARCHITECTURES[architecture](num_classes=num_classes, channels=channels, **options)
