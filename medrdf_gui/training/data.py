"""Labelled image folders (``<root>/<split>/<class>/*.png``) read through the app's own loader.

Images go through :func:`load_study` and :func:`array_to_tensor`, the very functions inference uses, and are
kept in memory as uint8 (lossless for the 8-bit PNGs of cxr3 and derma7) so an epoch costs no disk reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..imaging import load_study
from ..modelzoo.preprocess import array_to_tensor

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp"}


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]
    classes: list[str]
    files: list[str]

    def __len__(self) -> int:
        return int(self.labels.numel())

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index].float().div_(255.0), self.labels[index]


def list_classes(root: Path, split: str) -> list[str]:
    return sorted(p.name for p in (root / split).iterdir() if p.is_dir())


def load_image_set(root: Path, split: str, channels: int, size: tuple[int, int], classes: list[str] | None = None,
                   limit: int | None = None) -> ImageSet:
    """Read every image of one split; ``limit`` keeps the first N per class (for smoke runs and tests)."""
    classes = classes or list_classes(root, split)
    tensors, labels, files = [], [], []
    for label, name in enumerate(classes):
        paths = sorted(p for p in (root / split / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in paths[:limit]:
            study = load_study(path)
            image = study.display if channels == 3 else study.grayscale()
            tensors.append(array_to_tensor(image, channels, size).mul_(255.0).round_().to(torch.uint8))
            labels.append(label)
            files.append(str(path.relative_to(root)))
    if not tensors:
        raise FileNotFoundError(f"no images under {root / split}")
    return ImageSet(torch.cat(tensors), torch.tensor(labels, dtype=torch.int64), classes, files)
