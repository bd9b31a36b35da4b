"""Untrained tiny models for tests, benchmarks of the pipeline and smoke runs.

The card says plainly that the weights are random: nothing here pretends to be a trained model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from .architectures import build_network, gradcam_layer
from .card import ModelCard
from .registry import sha256_file


def write_untrained_model(directory: Path, name: str = "tiny-untrained", classes: list[str] | None = None,
                          channels: int = 1, size: int = 32, architecture: str = "tinycnn", seed: int = 0,
                          **arch_options) -> Path:
    """Write ``<name>.safetensors`` + ``<name>.json`` with random weights; return the card's path."""
    classes = classes or ["covid", "normal", "viral_pneumonia"]
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = build_network(architecture, len(classes), channels, **arch_options)
    weights_path = directory / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights_path))
    card = ModelCard(
        name=name,
        architecture=architecture,
        classes=classes,
        input_size=(size, size),
        channels=channels,
        mean=[0.5] * channels,
        std=[0.25] * channels,
        weights=weights_path.name,
        sha256=sha256_file(weights_path),
        arch_options=dict(arch_options),
        target_layer=gradcam_layer(architecture),
        description="UNTRAINED random weights for software tests only; its outputs mean nothing.",
    )
    card_path = directory / f"{name}.json"
    card.save(card_path)
    return card_path
