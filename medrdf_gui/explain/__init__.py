"""Attention maps (no Qt): Grad-CAM of the base and the MedRDF-defended model, and a gated network's own attention."""

from .errors import ExplainError
from .gradcam import GradCAM, normalise_maps, resolve_target_layer, upsample_maps
from .maps import (DEFAULT_COPIES, AttentionMaps, attention_maps, base_gradcam, defended_class_index, defended_gradcam,
                   gate_maps)

__all__ = [
    "DEFAULT_COPIES", "AttentionMaps", "ExplainError", "GradCAM", "attention_maps", "base_gradcam",
    "defended_class_index", "defended_gradcam", "gate_maps", "normalise_maps", "resolve_target_layer",
    "upsample_maps",
]
