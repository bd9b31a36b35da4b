"""Display intensities in [0, 1] → 8-bit QImage.

Windowing happens before this, in float (``Study.render``), so 10–16-bit data reach the screen through their
window or VOI LUT and are only then quantised to the display's 8 bits — never truncated or shifted.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_display_bytes(intensities: np.ndarray) -> np.ndarray:
    """Round [0, 1] floats to uint8 (H×W or H×W×3), C-contiguous."""
    scaled = np.rint(np.clip(intensities, 0.0, 1.0) * 255.0)
    return np.ascontiguousarray(scaled.astype(np.uint8))


def qimage_from_bytes(pixels: np.ndarray) -> QImage:
    """A QImage that owns a copy of ``pixels`` (uint8 grey H×W or RGB H×W×3)."""
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_Grayscale8)
    else:
        image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888)
    return image.copy()  # the numpy buffer may be freed; the QImage must not point into it
