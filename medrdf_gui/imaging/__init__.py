"""Image loading (no Qt): DICOM and raster files become :class:`Study` objects."""

from .errors import StudyLoadError
from .loader import load_study
from .study import IDENTIFYING_KEYWORDS, Study, TagRow
from .windowing import WindowPreset, render_window

__all__ = ["IDENTIFYING_KEYWORDS", "Study", "StudyLoadError", "TagRow", "WindowPreset", "load_study", "render_window"]
