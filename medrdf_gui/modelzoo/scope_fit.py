"""Fitting a model's scope detector (``medrdf scope fit MODEL``): statistics from the training split, the
threshold from the validation split, both written beside the card.

Images go through :func:`~medrdf_gui.modelzoo.registry.LoadedModel.input_tensor`, the very path inference
takes, so the features the detector was fitted on are the features it will see. Only statistics leave this
module; the card records the images counted, the data manifest's hash and the command, as training does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from .registry import LoadedModel
from .scope import (METHODS, TARGET_FLAG_RATE, ScopeDetector, StageStats, calibrate_threshold, captured_features,
                    energy_scores, fit_stages, stage_layers, write_stats)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp"}
# What the shipped data sets hold, in the words the out-of-scope alert uses ("does not resemble the … the model
# was trained on"); another data set is named by its folder unless --domain says more.
DOMAINS = {"cxr3": "frontal chest radiographs", "derma7": "dermatoscopic photographs of skin lesions"}
ProgressFn = Callable[[int, int], None]


def split_files(root: Path, split: str, classes: list[str]) -> tuple[list[Path], torch.Tensor]:
    """Image files of ``<root>/<split>/<class>/`` in card class order, with their class indices."""
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        folder = root / split / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: the {split} split needs one folder per class of the card")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [index] * len(found)
    return files, torch.tensor(labels, dtype=torch.int64)


def _batches(images: Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    batch: list[torch.Tensor] = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield torch.cat(batch)
            batch = []
    if batch:
        yield torch.cat(batch)


def features_and_logits(model: LoadedModel, images: Iterable[torch.Tensor], layers: list[str], batch_size: int = 64,
                        total: int | None = None, progress: ProgressFn | None = None
                        ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pooled features per layer ({name: [N, D]}) and logits [N, K] (CPU, float32) of model inputs
    [1, C, H, W] in [0, 1], through the same hooks the engine's scope probe uses."""
    feats: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    logits: list[torch.Tensor] = []
    done = 0
    module = model.module.eval()
    device = model.device
    with torch.inference_mode(), captured_features(module, layers) as seen:
        for batch in _batches(images, batch_size):
            logits.append(module(batch.to(device)).float().cpu())
            for name in layers:
                feats[name].append(seen[name].pop().cpu())
            done += batch.shape[0]
            if progress is not None:
                progress(done, total or done)
    return {name: torch.cat(f) for name, f in feats.items()}, torch.cat(logits)


def file_inputs(model: LoadedModel, files: Iterable[Path]) -> Iterator[torch.Tensor]:
    """Model inputs of image files, read one at a time (a split never has to fit in memory as pixels)."""
    for path in files:
        yield model.input_tensor(path)


@dataclass
class ScopeFit:
    entry: dict[str, Any]  # the card's new ``scope``
    stats: StageStats | None  # written beside the card (mahalanobis only)
    val_scores: torch.Tensor


def dataset_of(model: LoadedModel) -> str:
    """The data set folder the model was trained on, as its card records it."""
    training = model.card.training
    name = training.get("data") or training.get("recipe", {}).get("dataset")
    if not name:
        raise ValueError(f"the card of {model.name} does not say which data set it was trained on; pass --dataset")
    return str(name)


def _manifest_sha256(root: Path) -> str | None:
    manifest = root / "manifest.csv"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None


def fit_from_features(model: LoadedModel, method: str, layers: list[str],
                      train: tuple[dict[str, torch.Tensor], torch.Tensor] | None,
                      val: tuple[dict[str, torch.Tensor], torch.Tensor], rate: float = TARGET_FLAG_RATE) -> ScopeFit:
    """The detector from extracted features: ``train`` is (features, labels) (mahalanobis only), ``val`` is
    (features, logits) of the validation split. Kept apart from the extraction so that the measurements of
    docs/scope.md reuse the features of one pass and reproduce the shipped threshold (to float rounding: a
    different batch size changes the features' last bits)."""
    if method not in METHODS:
        raise ValueError(f"unknown scope method '{method}' (known: {', '.join(METHODS)})")
    stats = None
    if method == "mahalanobis":
        if train is None:
            raise ValueError("the mahalanobis score needs the training split's features")
        stats = fit_stages({name: train[0][name] for name in layers}, train[1], model.card.num_classes)
    scores = stats.scores(val[0]) if stats is not None else energy_scores(val[1])
    threshold = calibrate_threshold(scores, rate)
    entry: dict[str, Any] = {
        "method": method,
        "layers": layers if stats is not None else [],
        "threshold": threshold,
        "target_flag_rate": rate,
        "val_flag_rate": float((scores > threshold).double().mean()),
        "val_images": int(scores.numel()),
        "train_images": int(train[1].numel()) if stats is not None and train is not None else 0,
        "weights_sha256": model.card.sha256,
    }
    if stats is not None:
        entry["shrinkage"] = {name: round(st.shrinkage, 6) for name, st in stats.stages.items()}
    return ScopeFit(entry, stats, scores)


def fit_scope(model: LoadedModel, data_root: Path, *, method: str = "mahalanobis", layers: list[str] | None = None,
              rate: float = TARGET_FLAG_RATE, domain: str | None = None, batch_size: int = 64,
              command: str = "", progress: Callable[[str, int, int], None] | None = None) -> ScopeFit:
    """Fit on ``data_root/train`` and calibrate on ``data_root/val`` (``data_root`` is one data set's folder)."""
    if method not in METHODS:
        raise ValueError(f"unknown scope method '{method}' (known: {', '.join(METHODS)})")
    card = model.card
    layers = (layers or stage_layers(model.module)) if method == "mahalanobis" else []

    def extract(split: str) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        files, labels = split_files(data_root, split, card.classes)
        step = (lambda d, t: progress(split, d, t)) if progress else None
        features, logits = features_and_logits(model, file_inputs(model, files), layers, batch_size, len(files), step)
        return features, logits, labels

    train = None
    if method == "mahalanobis":
        features, _, labels = extract("train")
        train = (features, labels)
    features, logits, _ = extract("val")
    fit = fit_from_features(model, method, layers, train, (features, logits), rate)
    fit.entry.update({
        "domain": domain or DOMAINS.get(data_root.name, f"{data_root.name} images"),
        "data": data_root.name,
        "data_manifest_sha256": _manifest_sha256(data_root),
        "command": command,
        "created": dt.date.today().isoformat(),
    })
    return fit


def save_scope(model: LoadedModel, fit: ScopeFit) -> Path:
    """Write the statistics beside the card, then the card (each atomically); returns the card's path. A fit cut
    short between the two leaves a card whose sha256 no longer matches the new statistics, which loading refuses
    rather than pairing a threshold with statistics it was not calibrated on. The detector is then rebuilt from
    disk, so a fit that would not load fails here and not at the next analysis."""
    card = model.card
    if card.path is None:
        raise ValueError("the model card has no file to update")
    entry = dict(fit.entry)
    if fit.stats is not None:
        stats_file = card.path.with_name(f"{card.name}.scope.safetensors")
        entry["stats"] = stats_file.name
        entry["stats_sha256"] = write_stats(fit.stats, stats_file)
    card.scope = entry
    card.save(card.path)
    model.scope = ScopeDetector.from_card(card)
    return card.path
