"""The two attention maps MedRDF shows (the pair of the paper's Fig. 3), computed after the vote.

* base map: Grad-CAM of the undefended model on the clean image, for the base model's class;
* defended map: the mean Grad-CAM over ``m`` noisy, denoised copies of the image — the inputs the defended model
  actually classifies — for the class MedRDF returned (the base class when it abstained);
* and, for an attention-gated network (AG-Sononet), its own gates' coefficients on the clean image.

The copies are drawn with the Result's own noise, denoiser and seed, through the engine's classes, so that the
defended map of a saved Result can be recomputed bit for bit on the same device with the same ``copies`` and
batch size. Progress and cancellation follow the engine's contract (``progress(done, total)`` between batches,
:class:`~medrdf_gui.robust.Cancelled` at the next batch boundary), so a GUI worker can run vote and maps in one go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..robust.denoise import make_denoiser
from ..robust.errors import Cancelled
from ..robust.noise import make_noise
from ..robust.result import Result
from .errors import ExplainError
from .gradcam import GradCAM, normalise_maps, upsample_maps

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
DEFAULT_COPIES = 32


@dataclass(frozen=True)
class AttentionMaps:
    """Base and defended Grad-CAM of one Result, each H×W float32 in [0, 1], and how they were made."""

    base: np.ndarray
    defended: np.ndarray
    base_class: str
    defended_class: str
    copies: int
    target_layer: str
    seed: int
    # the network's own attention on the clean image, per gated stage (AG-Sononet: "layer3", "layer4"); see gate_maps
    gates: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.base.shape[0]), int(self.base.shape[1])


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _unpack(model: Any, target_layer: str | None) -> tuple[nn.Module, str, list[str]]:
    """(module, target layer name, class names) of a LoadedModel, or of a bare module with ``target_layer``."""
    module: nn.Module = getattr(model, "module", model)
    card = getattr(model, "card", None)
    layer = target_layer or (card.target_layer if card is not None else None)
    if not layer:
        raise ExplainError("No Grad-CAM target layer: pass target_layer=... for a model without a card.")
    return module, layer, list(card.classes) if card is not None else []


def _device_of(module: nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _as_batch(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ExplainError(f"Expected one image tensor [1, C, H, W], got shape {tuple(x.shape)}.")
    return x.detach().to(device=device, dtype=torch.float32)


def _class_index(target: int | str, classes: list[str]) -> int:
    if isinstance(target, str):
        if target not in classes:
            raise ExplainError(f"Unknown class '{target}' for Grad-CAM (known: {', '.join(classes) or 'none'}).")
        return classes.index(target)
    return int(target)


def defended_class_index(result: Result) -> int:
    """The class the defended map explains: MedRDF's diagnosis, or the base model's class when it abstained."""
    return result.base_label if result.abstained or result.label is None else int(result.label)


def _finish(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    return normalise_maps(upsample_maps(cam, size))[0].cpu().numpy().astype(np.float32)


def base_gradcam(model: Any, x: torch.Tensor, target: int | str | None = None, *, size: tuple[int, int] | None = None,
                 target_layer: str | None = None, classes: list[str] | None = None) -> np.ndarray:
    """Grad-CAM of the undefended model on the clean image ``x`` ([1, C, H, W] in [0, 1]).

    ``target`` picks the class (index, or name looked up in the card's classes or ``classes``; default: the
    model's own prediction). ``size`` is the output's (height, width) — pass the study's displayed image size to
    overlay it; default the model input size.
    """
    module, layer, card_classes = _unpack(model, target_layer)
    classes = card_classes or list(classes or [])
    x = _as_batch(x, _device_of(module))
    cam = GradCAM(module, layer)
    try:
        if target is None:
            with torch.no_grad():
                target = int(module(x).argmax(dim=1)[0])
        raw = cam.raw(x, _class_index(target, classes))
    except Exception as exc:
        if _is_oom(exc):
            raise ExplainError("The device ran out of memory computing Grad-CAM; use the CPU.") from None
        raise
    return _finish(raw, size or tuple(x.shape[-2:]))


def gate_maps(model: Any, x: torch.Tensor, size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The network's own attention coefficients on the clean image ``x`` ([1, C, H, W] in [0, 1]): one H×W float32
    map per gate, keyed by the stage it weighs, at ``size`` (default: the model input size); {} for a network
    without ``attention_maps`` (:class:`~medrdf_gui.modelzoo.agsononet.AGSononet` has one). Unlike Grad-CAM they
    belong to no class, and they are kept as computed, each in [0, 1] (1: the feature passes untouched), not
    rescaled to their maximum."""
    module: nn.Module = getattr(model, "module", model)
    net = getattr(module, "net", module)
    if not callable(getattr(net, "attention_maps", None)):
        return {}
    x = _as_batch(x, _device_of(module))
    if net is not module:  # a NormalizedClassifier: the network's methods take normalised input
        x = module.normalise(x)
    with torch.no_grad():
        maps = net.attention_maps(x, size or tuple(x.shape[-2:]))
    return {name: alpha[0].float().cpu().numpy() for name, alpha in maps.items()}


def defended_gradcam(model: Any, x: torch.Tensor, result: Result, *, copies: int = DEFAULT_COPIES,
                     target: int | str | None = None, size: tuple[int, int] | None = None,
                     target_layer: str | None = None, batch_size: int | None = None,
                     progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                     progress_offset: int = 0, progress_total: int | None = None) -> np.ndarray:
    """Mean Grad-CAM over ``copies`` noisy, denoised copies of ``x``, drawn as the engine drew them for ``result``.

    Each copy's map is scaled to [0, 1] before averaging, so that every copy weighs the same whatever its
    gradient magnitude; the mean is scaled to [0, 1] again. ``target`` defaults to
    :func:`defended_class_index`. ``batch_size`` defaults to the Result's. ``progress`` receives
    ``(progress_offset + copies done, progress_total or copies)`` after each batch.
    """
    if copies < 1:
        raise ExplainError(f"The defended Grad-CAM needs at least one copy (got {copies}).")
    module, layer, classes = _unpack(model, target_layer)
    classes = classes or list(result.classes)
    device = _device_of(module)
    x = _as_batch(x, device)
    settings = result.settings
    noise = make_noise(settings["noise"], settings["sigma"])
    denoise = make_denoiser(settings["denoiser"], settings["kernel"])
    batch = max(1, int(batch_size or settings.get("batch_size") or 32))
    index = _class_index(defended_class_index(result) if target is None else target, classes)
    generator = torch.Generator(device=device).manual_seed(int(result.seed))
    cancelled = should_cancel or (lambda: False)
    total = progress_total or copies
    cam = GradCAM(module, layer)
    acc: torch.Tensor | None = None
    done = 0
    try:
        while done < copies:
            if cancelled():
                raise Cancelled("Attention maps cancelled.")
            count = min(batch, copies - done)
            with torch.no_grad():
                noisy = denoise(noise(x.expand(count, *x.shape[1:]), generator))
            maps = normalise_maps(cam.raw(noisy, index)).sum(dim=0, keepdim=True)
            acc = maps if acc is None else acc + maps
            done += count
            if progress is not None:
                progress(progress_offset + done, total)
    except Exception as exc:
        if _is_oom(exc):
            raise ExplainError("The device ran out of memory computing Grad-CAM; lower the batch size or use the CPU.") from None
        raise
    assert acc is not None
    return _finish(acc / copies, size or tuple(x.shape[-2:]))


def attention_maps(model: Any, x: torch.Tensor, result: Result, *, copies: int = DEFAULT_COPIES,
                   size: tuple[int, int] | None = None, target_layer: str | None = None,
                   batch_size: int | None = None, progress: ProgressFn | None = None,
                   should_cancel: CancelFn | None = None) -> AttentionMaps:
    """Both maps of the paper's Fig. 3 for one Result, with one progress bar over ``1 + copies`` images, and the
    network's own attention (:func:`gate_maps`) when it has attention gates.

    The base map explains ``result.base_label`` and the defended map :func:`defended_class_index`, so the pair
    shows why each model said what the Result says it said.
    """
    _, layer, _ = _unpack(model, target_layer)
    cancelled = should_cancel or (lambda: False)
    total = 1 + copies
    if cancelled():
        raise Cancelled("Attention maps cancelled.")
    base = base_gradcam(model, x, result.base_label, size=size, target_layer=layer)
    if progress is not None:
        progress(1, total)
    defended = defended_gradcam(model, x, result, copies=copies, size=size, target_layer=layer, batch_size=batch_size,
                                progress=progress, should_cancel=should_cancel, progress_offset=1, progress_total=total)
    return AttentionMaps(
        base=base,
        defended=defended,
        base_class=result.classes[result.base_label],
        defended_class=result.classes[defended_class_index(result)],
        copies=copies,
        target_layer=layer,
        seed=int(result.seed),
        gates=gate_maps(model, x, size),
    )
