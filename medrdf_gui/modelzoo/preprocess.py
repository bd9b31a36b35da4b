"""Study → model input: the one function both training and inference use, so they cannot drift apart.

The tensor is [1, C, H, W] float32 with pixels in [0, 1] (normalisation happens inside the model):
grey models get the study's grey rendering, colour models its RGB (grey replicated when the study is grey),
resized to the card's input size with antialiased bilinear interpolation (aspect ratio not preserved, as the
COVID-19 Radiography Database's own resizing did).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..imaging import Study
from ..imaging.study import LUMA_WEIGHTS
from .card import ModelCard


def array_to_tensor(image: np.ndarray, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """H×W or H×W×3 float array in [0, 1] → [1, channels, *size] float32 tensor in [0, 1]."""
    if channels == 1:
        if image.ndim == 3:
            image = image[..., :3] @ LUMA_WEIGHTS
        t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    else:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        t = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
    if tuple(t.shape[-2:]) != tuple(size):
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=True)
    return t.clamp_(0.0, 1.0).contiguous()


def study_to_tensor(study: Study, card: ModelCard) -> torch.Tensor:
    """The model input for a study, exactly as ``medrdf predict`` and training compute it."""
    image = study.display if card.channels == 3 else study.grayscale()
    return array_to_tensor(image, card.channels, card.input_size)
