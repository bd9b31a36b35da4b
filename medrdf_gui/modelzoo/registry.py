"""Finding, verifying and loading models.

Weights are read once into memory, their SHA-256 compared with the card, and only then parsed by safetensors
from those same bytes — no window between check and use, and no pickle anywhere.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes

from .. import paths
from ..imaging import load_study
from .architectures import NormalizedClassifier, build_network
from .card import ModelCard
from .errors import ModelLoadError, ModelNotFoundError
from .preprocess import study_to_tensor
from .scope import ScopeDetector
from .verified import read_verified_bytes

DEFAULT_MODEL = "cxr3-resnet18"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def available_cards(directory: Path | None = None) -> list[ModelCard]:
    """Cards of the shipped models (those whose weights file exists), sorted by name."""
    folder = directory or paths.models_dir()
    cards = []
    for card_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            card = ModelCard.load(card_path)
        except ModelLoadError:
            continue
        if card.weights_path.is_file():
            cards.append(card)
    return cards


def resolve_card(name_or_path: str | os.PathLike[str]) -> ModelCard:
    """A shipped model's name (``cxr3-resnet18``) or the path of any card on disk."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.suffix == ".json" or candidate.is_file() or os.sep in text:
        if not candidate.is_file():
            raise ModelNotFoundError(f"Model card {candidate} does not exist.")
        return ModelCard.load(candidate)
    card_path = paths.models_dir() / f"{text}.json"
    if card_path.is_file():
        return ModelCard.load(card_path)
    names = ", ".join(c.name for c in available_cards()) or "none installed"
    raise ModelNotFoundError(f"Model '{text}' not found in {paths.models_dir()} (available: {names}).")


def read_verified_weights(card: ModelCard) -> dict[str, torch.Tensor]:
    path = card.weights_path
    blob = read_verified_bytes(path, card.sha256, "Weights file")
    try:
        return load_safetensors_bytes(blob)
    except (SafetensorError, ValueError) as exc:
        raise ModelLoadError(f"Weights file {path} is not a valid safetensors file.") from exc


@dataclass
class LoadedModel:
    """A verified model ready for inference: ``module`` takes [B, C, H, W] pixels in [0, 1] and returns logits;
    ``scope`` is its out-of-scope detector (None when the card was never fitted: no scope check)."""

    card: ModelCard
    module: NormalizedClassifier
    scope: ScopeDetector | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.card.classes)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def sha256(self) -> str:
        return self.card.sha256

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: torch.device | str) -> "LoadedModel":
        self.module.to(device)
        return self

    def input_tensor(self, path: str | os.PathLike[str], frame: int = 0) -> torch.Tensor:
        """[1, C, H, W] in [0, 1]: exactly what ``medrdf predict`` feeds the model for this file."""
        return study_to_tensor(load_study(path, frame), self.card)


def build_module(card: ModelCard) -> NormalizedClassifier:
    try:
        net = build_network(card.architecture, card.num_classes, card.channels, **card.arch_options)
    except KeyError as exc:
        raise ModelLoadError(f"Model card {card.path}: unknown architecture '{card.architecture}'.") from exc
    return NormalizedClassifier(net, card.mean, card.std)


def load_model(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, device: str | torch.device = "cpu", *,
               with_scope: bool = True) -> LoadedModel:
    """Load a model by shipped name or card path, after checking the SHA-256 of the weights (and of the scope
    statistics, when the card has them) against the card. ``with_scope=False`` skips the scope entirely: only
    for refitting it (``medrdf scope fit``), whose old statistics may be the very thing that is broken."""
    card = resolve_card(name_or_path)
    state = read_verified_weights(card)
    scope = ScopeDetector.from_card(card) if with_scope else None
    module = build_module(card)
    try:
        module.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"Weights file {card.weights_path} does not fit the '{card.architecture}' architecture of its card.") from exc
    module.eval().requires_grad_(False)
    return LoadedModel(card, module.to(device), scope)


_LOADED_CACHE_SIZE = 2
_loaded: OrderedDict[tuple, LoadedModel] = OrderedDict()
_loaded_lock = threading.Lock()


def _files_key(card: ModelCard) -> tuple:
    """The card's path, its sha256, and the size and modification time of the card and the weights file."""
    stats = [os.stat(path) for path in (card.path, card.weights_path)]
    return (str(Path(card.path).resolve()), card.sha256, *((st.st_size, st.st_mtime_ns) for st in stats))


def load_model_cached(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
                      device: str | torch.device = "cpu") -> LoadedModel:
    """:func:`load_model`, returning the model already loaded from the same, unchanged files (moved to ``device``).

    Why: the viewer analyses image after image with one model, and reading, hashing and parsing the weights each
    time costs about a second for nothing. The key holds the card's path and sha256 and the size and mtime of the
    card and the weights, so a file changed on disk is loaded and verified afresh. The model is shared: callers
    must not change its weights. The last two models are kept.
    """
    card = resolve_card(name_or_path)
    try:
        key = _files_key(card)
    except OSError:  # a missing weights file: load_model says so in its own words
        return load_model(name_or_path, device)
    with _loaded_lock:
        model = _loaded.get(key)
        if model is not None:
            _loaded.move_to_end(key)
            return model.to(device)
    model = load_model(name_or_path, device)
    with _loaded_lock:
        _loaded[key] = model
        while len(_loaded) > _LOADED_CACHE_SIZE:
            _loaded.popitem(last=False)
    return model
