"""The :class:`Study`: one loaded image with everything the viewer, the model and the report need.

Identifying fields live in one place (``Study.identifiers``) so that de-identification, the tags panel's
"show identifiers" toggle and the no-identifiers-in-logs rule all work from the same list.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..alerts import Alert
from .windowing import WindowPreset, render_window

# DICOM keywords that identify a person or an encounter (a subset of PS3.15 Annex E's Basic Profile that
# matters for what this app shows, logs and reports).
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "MedicalRecordLocator",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StationName",
    "DeviceSerialNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)

# ITU-R BT.601 luma weights (Pillow's "L" conversion): the one RGB → grey rule of the app.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Modalities of projection radiographs, the only kind the shipped chest models were trained on.
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR"})


@dataclass(frozen=True)
class TagRow:
    """One DICOM element as the tags panel shows it."""

    tag: str  # "(0010,0010)"
    keyword: str
    vr: str
    value: str
    depth: int = 0  # nesting level inside sequences
    identifying: bool = False


@dataclass(eq=False)
class Study:
    """One image (one frame of a file), ready to display and to feed to a model.

    ``modality_values`` are the stored values after the Modality LUT (e.g. Hounsfield units for CT), the data the
    viewer windows interactively; ``display`` is the default rendering in [0, 1] (VOI LUT or window applied,
    MONOCHROME1 inverted) and is what the model sees. Colour images keep ``display`` as H×W×3 RGB.
    """

    path: Path
    source_format: str  # "dicom" | "png" | "jpeg" | "tiff" | ...
    display: np.ndarray  # float32 [0, 1], H×W or H×W×3
    raw: np.ndarray  # stored values of the frame (integers as stored, before any LUT)
    modality_values: np.ndarray  # float32, after the Modality LUT, grey images only (colour: same as raw)
    photometric: str = "MONOCHROME2"
    modality: str = "OT"
    body_part: str = ""
    pixel_spacing: tuple[float, float] | None = None  # (row, column) in mm
    frame_index: int = 0
    frame_count: int = 1
    bits_stored: int = 8
    transfer_syntax: str = ""
    sop_class: str = ""
    window_presets: list[WindowPreset] = field(default_factory=list)
    default_window: WindowPreset | None = None  # None when a VOI LUT sequence (not a window) defines `display`
    identifiers: dict[str, str] = field(default_factory=dict)
    tags: list[TagRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # everything the reader should know, alerts included
    alerts: list[Alert] = field(default_factory=list)  # the warnings that keep a result from ACCEPT (alerts.py)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the image."""
        return int(self.display.shape[0]), int(self.display.shape[1])

    @property
    def is_color(self) -> bool:
        return self.display.ndim == 3

    @property
    def inverted(self) -> bool:
        """MONOCHROME1: low values are white, so windowed output is flipped for display."""
        return self.photometric == "MONOCHROME1"

    def grayscale(self) -> np.ndarray:
        """The display image as H×W float32 (ITU-R BT.601 luma for colour, as Pillow's ``L`` conversion)."""
        if not self.is_color:
            return self.display
        return np.clip(self.display @ LUMA_WEIGHTS, 0.0, 1.0).astype(np.float32)

    def render(self, window: WindowPreset | None = None, invert: bool = False) -> np.ndarray:
        """Display intensities in [0, 1] for a window (default rendering when None); ``invert`` flips them."""
        if window is None or self.is_color:
            img = self.display
            return 1.0 - img if invert else img
        return render_window(self.modality_values, window.center, window.width, window.function, self.inverted ^ invert)

    def pixel_sha256(self) -> str:
        """SHA-256 of the stored pixel values of this frame: a stable, non-identifying key for audit and reports."""
        digest = hashlib.sha256()
        digest.update(str(self.raw.dtype).encode() + str(self.raw.shape).encode())
        digest.update(np.ascontiguousarray(self.raw).tobytes())
        return digest.hexdigest()
