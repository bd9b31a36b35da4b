"""Model cards, architectures and verified loading (no Qt)."""

from .architectures import NormalizedClassifier, build_network
from .card import ModelCard
from .errors import ModelLoadError, ModelNotFoundError
from .preprocess import array_to_tensor, study_to_tensor
from .registry import (DEFAULT_MODEL, LoadedModel, available_cards, load_model, load_model_cached, resolve_card,
                       sha256_file)

__all__ = [
    "DEFAULT_MODEL", "LoadedModel", "ModelCard", "ModelLoadError", "ModelNotFoundError", "NormalizedClassifier", "array_to_tensor",
    "available_cards", "build_network", "load_model", "load_model_cached", "resolve_card", "sha256_file", "study_to_tensor",
]
