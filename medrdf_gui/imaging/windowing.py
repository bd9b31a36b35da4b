"""Window/level rendering of modality values to display intensities in [0, 1].

The arithmetic is pydicom's own :func:`pydicom.pixels.apply_windowing` (DICOM PS3.3 C.11.2.1.2, LINEAR,
LINEAR_EXACT and SIGMOID); this module only feeds it a minimal VOI LUT dataset and rescales its output range to
[0, 1], so that the GUI's interactive window and the loader's default window are the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

# The output range of apply_windowing for this synthetic dataset is [0, 2**16 - 1] (unsigned, 16 bits, no rescale).
_OUT_BITS = 16
_OUT_MAX = float(2**_OUT_BITS - 1)


@dataclass(frozen=True)
class WindowPreset:
    """A named window: centre and width in modality units (after the Modality LUT)."""

    name: str
    center: float
    width: float
    function: str = "LINEAR"


def render_window(
    values: np.ndarray, center: float, width: float, function: str = "LINEAR", invert: bool = False
) -> np.ndarray:
    """Map modality values through a window to float32 display intensities in [0, 1].

    ``invert`` flips the result (MONOCHROME1 data, or the viewer's invert toggle).
    """
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = _OUT_BITS
    ds.PixelRepresentation = 0
    ds.WindowCenter = float(center)
    ds.WindowWidth = float(max(width, 1.0 if function.upper() == "LINEAR" else 1e-6))
    ds.VOILUTFunction = function.upper()
    out = (apply_windowing(np.asarray(values, dtype=np.float64), ds) / _OUT_MAX).astype(np.float32)
    np.clip(out, 0.0, 1.0, out=out)
    return 1.0 - out if invert else out


def range_window(values: np.ndarray, low_pct: float = 0.0, high_pct: float = 100.0, name: str = "") -> WindowPreset:
    """A LINEAR_EXACT window spanning two percentiles of the data (the full range by default)."""
    finite = np.asarray(values, dtype=np.float64)
    lo, hi = np.percentile(finite, [low_pct, high_pct]) if finite.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    label = name or ("Full range" if (low_pct, high_pct) == (0.0, 100.0) else f"Percentiles {low_pct:g}–{high_pct:g}")
    return WindowPreset(label, center=(lo + hi) / 2.0, width=hi - lo, function="LINEAR_EXACT")


# Standard CT presets (Hounsfield units); offered only for CT studies.
CT_PRESETS = (
    WindowPreset("CT lung", -600.0, 1500.0),
    WindowPreset("CT mediastinum", 50.0, 350.0),
    WindowPreset("CT bone", 400.0, 1800.0),
    WindowPreset("CT brain", 40.0, 80.0),
)


def radiograph_presets(values: np.ndarray) -> list[WindowPreset]:
    """Data-driven presets for projection radiographs, whose units are vendor-specific (no fixed HU scale)."""
    return [
        range_window(values),
        range_window(values, 1.0, 99.0, "Soft tissue (1–99 %)"),
        range_window(values, 5.0, 95.0, "High contrast (5–95 %)"),
    ]
