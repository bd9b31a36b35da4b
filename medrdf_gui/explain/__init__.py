"""Attention maps (no Qt): Grad-CAM of the base model and of the MedRDF-defended model."""

from .errors import ExplainError
from .gradcam import GradCAM, normalise_maps, resolve_target_layer, upsample_maps
from .maps import DEFAULT_COPIES, AttentionMaps, attention_maps, base_gradcam, defended_class_index, defended_gradcam

__all__ = [
    "DEFAULT_COPIES", "AttentionMaps", "ExplainError", "GradCAM", "attention_maps", "base_gradcam",
    "defended_class_index", "defended_gradcam", "normalise_maps", "resolve_target_layer", "upsample_maps",
]
