"""Feature squeezing (Xu, Evans & Qi, NDSS 2018) as an adversarial-input detector for the verdict.

The statistic: how far the model's class probabilities move when the image is simplified — a 3×3 median (the
MedRDF denoiser, without noise) and a reduction to 16 grey levels — the largest L1 distance over the squeezers.
A clean image's answer barely moves; a perturbation tuned to the model's fine texture often loses its effect
when the texture is squeezed away. The threshold is the validation split's (1 − rate) quantile, so about
``rate`` of clean images are flagged (``medrdf detector fit``; the card's ``detector`` entry).

Why our own few lines rather than ART's FeatureSqueezing: ART ships squeezing as an input *defence*; the detector
is three forward passes and a quantile, and the engine needs it without a second deep-learning framework.
An attacker who knows the detector can fool it (Carlini & Wagner 2017; He et al. 2017 broke feature squeezing
this way): docs/robustness.md reports it both against the standard attacks and against ``pgd100-squeeze``, which
attacks the squeezed predictions together with the plain one (attacks/detector_aware.py).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .denoise import median3x3

METHOD = "feature-squeezing"
BITS = 4


def bit_depth(x: torch.Tensor, bits: int = BITS) -> torch.Tensor:
    """Pixels rounded to 2^bits levels in [0, 1]."""
    levels = 2**bits - 1
    return torch.round(x * levels) / levels


# name → squeezer; each maps pixels [B, C, H, W] in [0, 1] to pixels in [0, 1]
SQUEEZERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"median3": median3x3, f"bits{BITS}": bit_depth}


def squeeze_distances(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per image, the largest L1 distance between softmax(h(x)) and softmax(h(squeeze(x))) over the squeezers
    ([B], in [0, 2])."""
    plain = torch.softmax(module(x).float(), dim=1)
    moved = [(torch.softmax(module(squeeze(x)).float(), dim=1) - plain).abs().sum(dim=1) for squeeze in SQUEEZERS.values()]
    return torch.stack(moved).amax(dim=0)


def calibrate(scores: torch.Tensor, rate: float) -> float:
    """The threshold (flag when score > threshold) that flags at most ``rate`` of the given clean scores, by the
    scope detector's conformal rule (``modelzoo.scope.calibrate_threshold``): an interpolated quantile flagged
    5.1 % of derma7's validation images at rate 0.05, because the statistic has ties."""
    if not 0.0 < rate < 1.0:
        raise ValueError("the flag rate must lie strictly between 0 and 1")
    from ..modelzoo.scope import calibrate_threshold

    return calibrate_threshold(scores, rate)


def detector_entry(threshold: float, flagged: float, images: int, data: str, rate: float, command: str) -> dict[str, Any]:
    """The card's ``detector`` entry."""
    return {"method": METHOD, "squeezers": list(SQUEEZERS), "threshold": threshold, "target_flag_rate": rate,
            "flag_rate_val": flagged, "images": images, "data": data, "command": command}


def assess(card: Any, module: nn.Module, x: torch.Tensor) -> tuple[float | None, float | None]:
    """(score, threshold) of one image [1, C, H, W] when the card has a fitted detector, else (None, None)."""
    entry = getattr(card, "detector", None) or {}
    if entry.get("method") != METHOD:
        return None, None
    with torch.inference_mode():
        score = float(squeeze_distances(module, x)[0])
    return score, float(entry["threshold"])


def fit_detector(model: Any, root: Any, rate: float = 0.05, batch_size: int = 64, command: str = "",
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Score every image of ``root/val`` (through the model's own input path) and return the card entry whose
    threshold flags about ``rate`` of them."""
    from ..modelzoo.scope_fit import split_files  # the same file walk the scope fit uses

    files, _ = split_files(root, "val", model.card.classes)
    if not files:
        raise ValueError(f"{root / 'val'} holds no images")
    module = model.module.eval()
    scores = []
    for start in range(0, len(files), batch_size):
        x = torch.cat([model.input_tensor(p) for p in files[start : start + batch_size]])
        with torch.inference_mode():
            scores.append(squeeze_distances(module, x))
        if progress is not None:
            progress(min(start + batch_size, len(files)), len(files))
    scores_t = torch.cat(scores)
    threshold = calibrate(scores_t, rate)
    flagged = float((scores_t > threshold).double().mean())
    return detector_entry(threshold, round(flagged, 4), len(files), f"{root.name}/val", rate, command)


def describe(entry: dict[str, Any]) -> str:
    """One line for `medrdf models` and the fit command."""
    if entry.get("method") != METHOD:
        return "adversarial-input detector: none fitted"
    return (f"adversarial-input detector: feature squeezing ({', '.join(entry['squeezers'])}), threshold "
            f"{entry['threshold']:.3g}, flags {100 * entry['flag_rate_val']:.1f} % of {entry['images']} {entry['data']} images")
