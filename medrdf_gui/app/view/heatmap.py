"""Attention maps → colour (no Qt, so the worker thread can do it and the GUI thread only blits).

The overlay the panes draw is at most OVERLAY_MAX_SIDE pixels a side and packed as 32-bit 0xFFRRGGBB words,
the layout of ``QImage.Format_RGB32``: Qt then shows it without converting a pixel. A larger overlay would add
nothing — a Grad-CAM map is a bilinear upsampling of a 7×7 to 16×16 feature grid — but a 2,000 × 2,000 RGB
overlay cost 60–100 ms of the GUI thread to convert, most of issue 5's budget. The map *values* (hover readout,
tests, report) stay at the image's full size.

The colour map is the report's (``report.figure.HEAT``, matplotlib's "jet", the Grad-CAM convention), so the
screen and the PDF read the same; at the default opacity of 50 % the on-screen blend equals the report's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ...report.figure import HEAT, OVERLAY_WEIGHT

COLORMAP_NAME = "jet"
DEFAULT_OPACITY = OVERLAY_WEIGHT  # the report's blend weight
OVERLAY_MAX_SIDE = 1024
_LUT = np.round(HEAT(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
_LUT32 = (np.uint32(0xFF000000) | (_LUT[:, 0].astype(np.uint32) << 16) | (_LUT[:, 1].astype(np.uint32) << 8)
          | _LUT[:, 2].astype(np.uint32))


def _levels(cam: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(np.nan_to_num(cam, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)


def colorize(cam: np.ndarray) -> np.ndarray:
    """An H×W map in [0, 1] → H×W×3 uint8 RGB (C-contiguous); NaN and out-of-range values are clipped."""
    return np.ascontiguousarray(_LUT[_levels(cam)])


def overlay_size(shape: tuple[int, int], max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    """(height, width) of the overlay of a map of ``shape``: the same, or shrunk to ``max_side``, aspect kept."""
    h, w = shape
    scale = min(1.0, max_side / max(h, w, 1))
    return max(1, round(h * scale)), max(1, round(w * scale))


def overlay_pixels(cam: np.ndarray, max_side: int = OVERLAY_MAX_SIDE) -> np.ndarray:
    """The coloured overlay: h×w uint32 words 0xFFRRGGBB (``QImage.Format_RGB32``), at most ``max_side`` a side."""
    size = overlay_size(cam.shape, max_side)
    if size != cam.shape:
        plane = Image.fromarray(np.ascontiguousarray(cam, dtype=np.float32), mode="F")
        cam = np.asarray(plane.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.ascontiguousarray(_LUT32[_levels(cam)])


def rgb_from_overlay(words: np.ndarray) -> np.ndarray:
    """h×w×3 uint8 RGB of an overlay (for tests and screenshots)."""
    return np.stack([(words >> 16) & 0xFF, (words >> 8) & 0xFF, words & 0xFF], axis=-1).astype(np.uint8)


def legend_gradient(width: int = 256) -> np.ndarray:
    """A 1×width×3 uint8 strip from 0 (left) to 1 (right), for the legend."""
    return np.ascontiguousarray(_LUT[np.linspace(0, 255, max(2, width)).round().astype(np.intp)][None])
