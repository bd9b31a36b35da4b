"""DICOM reading: decode one frame, apply the Modality LUT and VOI in the order the standard defines.

Every step is pydicom's own (``pixel_array`` with the installed pixel handlers, ``apply_modality_lut``,
``apply_voi_lut`` / ``apply_windowing``); this module only chooses the frame, converts colour, and turns
pydicom's many exception types into one :class:`StudyLoadError` with a sentence a radiologist understands.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import UID

from .errors import StudyLoadError
from .study import IDENTIFYING_KEYWORDS, RADIOGRAPH_MODALITIES, Study, TagRow
from .windowing import CT_PRESETS, WindowPreset, radiograph_presets, range_window, render_window

log = logging.getLogger(__name__)

MAX_PIXELS = 100_000_000  # per frame; larger is almost surely corrupt or a decompression bomb
_MAX_TAG_VALUE_CHARS = 160
_CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "CHEST_TO_PELVIS"}


def read_dataset(path: Path) -> FileDataset:
    """Parse a DICOM file (with or without the 128-byte preamble) or raise StudyLoadError."""
    try:
        ds = pydicom.dcmread(path, force=True)
    except InvalidDicomError as exc:
        raise StudyLoadError(f"{path.name} is not a DICOM file.") from exc
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
        raise StudyLoadError(f"{path.name} is damaged or truncated and cannot be read as DICOM.") from exc
    except Exception as exc:  # pydicom raises assorted types on corrupt input; none of them may escape
        raise StudyLoadError(f"{path.name} is damaged and cannot be read as DICOM.") from exc
    # force=True accepts anything; insist on at least one real element so random bytes are rejected.
    try:
        has_content = any(True for _ in ds.keys()) and (
            "SOPClassUID" in ds or "PixelData" in ds or "Modality" in ds or "Rows" in ds
        )
    except Exception as exc:
        raise StudyLoadError(f"{path.name} is damaged and cannot be read as DICOM.") from exc
    if not has_content:
        raise StudyLoadError(f"{path.name} is not a DICOM file.")
    return ds


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    if not uid:
        return ""
    try:
        return UID(str(uid)).name
    except Exception:
        return str(uid)


def _transfer_syntax_name(ds: FileDataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if not ts:
        return "Implicit VR Little Endian (no file meta)"
    try:
        return UID(str(ts)).name
    except Exception:
        return str(ts)


def _ensure_transfer_syntax(ds: FileDataset) -> None:
    """Legacy files without file meta: pydicom read them as implicit/explicit LE; record that for decoding."""
    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit = getattr(ds, "is_implicit_VR", True)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian


def _frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _decode_frame(ds: FileDataset, path: Path, frame: int, frames: int) -> np.ndarray:
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise StudyLoadError(f"{path.name} has no valid image size (Rows/Columns missing).")
    if rows * cols > MAX_PIXELS:
        raise StudyLoadError(f"{path.name} is {cols}×{rows} pixels, larger than the {MAX_PIXELS // 1_000_000} megapixel limit.")
    if not 0 <= frame < frames:
        raise StudyLoadError(f"{path.name} has {frames} frame(s); frame {frame + 1} does not exist.")
    try:
        arr = pixel_array(ds, index=frame if frames > 1 else None, raw=False)
    except NotImplementedError as exc:
        raise StudyLoadError(
            f"{path.name} uses the compression '{_transfer_syntax_name(ds)}', which no installed decoder supports."
        ) from exc
    except RuntimeError as exc:
        text = str(exc).lower()
        if "does not support" in text or "no pixel data decoders" in text or "missing required dependencies" in text:
            raise StudyLoadError(
                f"{path.name} uses the compression '{_transfer_syntax_name(ds)}', which no installed decoder supports."
            ) from exc
        raise StudyLoadError(f"{path.name}: the image data is damaged and cannot be decoded.") from exc
    except Exception as exc:
        raise StudyLoadError(f"{path.name}: the image data is damaged or incomplete and cannot be decoded.") from exc
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4) and frames == 1:
        arr = arr[0]
    return np.asarray(arr)


def _identifiers(ds: Dataset) -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword in IDENTIFYING_KEYWORDS:
        value = ds.get(keyword)
        if value not in (None, ""):
            found[keyword] = str(value)
    return found


def _tag_rows(ds: Dataset, depth: int = 0) -> list[TagRow]:
    """Flatten the header for the tags panel; pixel data and huge values are summarised, not copied."""
    rows: list[TagRow] = []
    identifying = set(IDENTIFYING_KEYWORDS)
    for elem in ds:
        keyword = elem.keyword or "(private)"
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        if elem.VR == "SQ":
            rows.append(TagRow(tag, keyword, "SQ", f"{len(elem.value)} item(s)", depth, keyword in identifying))
            for item in elem.value:
                rows.extend(_tag_rows(item, depth + 1))
            continue
        if elem.tag == 0x7FE00010 or elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            length = len(elem.value) if elem.value is not None and not callable(elem.value) else 0
            rows.append(TagRow(tag, keyword, str(elem.VR), f"<{length} bytes>", depth))
            continue
        text = str(elem.value)
        if len(text) > _MAX_TAG_VALUE_CHARS:
            text = text[: _MAX_TAG_VALUE_CHARS - 1] + "…"
        rows.append(TagRow(tag, keyword, str(elem.VR), text, depth, keyword in identifying))
    return rows


def _window_presets(ds: Dataset, values: np.ndarray, modality: str) -> list[WindowPreset]:
    presets: list[WindowPreset] = []
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is not None and widths is not None:
        c_list = list(centers) if isinstance(centers, (list, pydicom.multival.MultiValue)) else [centers]
        w_list = list(widths) if isinstance(widths, (list, pydicom.multival.MultiValue)) else [widths]
        explanations = ds.get("WindowCenterWidthExplanation")
        e_list = list(explanations) if isinstance(explanations, (list, pydicom.multival.MultiValue)) else [explanations]
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        for i, (c, w) in enumerate(zip(c_list, w_list)):
            label = e_list[i] if i < len(e_list) and e_list[i] else f"DICOM window {i + 1}"
            presets.append(WindowPreset(f"{label} (file)", float(c), float(w), function))
    if modality == "CT":
        presets.extend(CT_PRESETS)
    presets.extend(radiograph_presets(values))
    return presets


def _to_display(ds: Dataset, modality_values: np.ndarray, path: Path) -> tuple[np.ndarray, WindowPreset | None]:
    """Default rendering: the file's VOI LUT sequence, else its first window, else the full data range."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    invert = photometric == "MONOCHROME1"
    if ds.get("VOILUTSequence"):
        try:
            lut_input = modality_values
            if np.array_equal(lut_input, np.round(lut_input)):  # LUT lookups index by integer value
                lut_input = lut_input.astype(np.int64)
            out = apply_voi_lut(lut_input, ds, index=0, prefer_lut=True).astype(np.float64)
            lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
            lo, hi = float(lut.min()), float(lut.max())
            display = np.clip((out - lo) / max(hi - lo, 1.0), 0.0, 1.0).astype(np.float32)
            return (1.0 - display if invert else display), None
        except Exception:
            log.warning("VOI LUT sequence unusable; falling back to the data range")
    if "WindowCenter" in ds and "WindowWidth" in ds:
        try:
            presets = _window_presets(ds, modality_values, "")
            window = presets[0]
            return render_window(modality_values, window.center, window.width, window.function, invert), window
        except (ValueError, TypeError, IndexError):
            log.warning("window tags unusable; falling back to the data range")
    window = range_window(modality_values)
    return render_window(modality_values, window.center, window.width, window.function, invert), window


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            try:
                return float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
    return None


def _warnings(ds: Dataset, modality: str, body_part: str, frames: int, frame: int) -> list[str]:
    notes: list[str] = []
    if modality not in RADIOGRAPH_MODALITIES:
        notes.append(f"{modality or 'Unknown-modality'} image: the model was trained on chest radiographs (CR/DX).")
    if body_part and body_part.upper() not in _CHEST_BODY_PARTS:
        notes.append(f"Body part is {body_part.upper()}, not chest: the model was trained on chest radiographs.")
    if frames > 1:
        notes.append(f"Multi-frame image: frame {frame + 1} of {frames} is shown and analysed.")
    if str(ds.get("LossyImageCompression", "")) == "01":
        notes.append("The image was lossy-compressed; fine detail may be altered.")
    return notes


def load_dicom(path: Path, frame: int = 0) -> Study:
    """Load one frame of a DICOM file as a :class:`Study`."""
    ds = read_dataset(path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        kind = _sop_class_name(ds) or str(ds.get("Modality", "")) or "non-image object"
        raise StudyLoadError(f"{path.name} is a DICOM {kind} and contains no image.")
    _ensure_transfer_syntax(ds)
    frames = _frame_count(ds)
    raw = _decode_frame(ds, path, frame, frames)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    modality = str(ds.get("Modality", "") or "").upper()
    body_part = str(ds.get("BodyPartExamined", "") or "")

    if raw.ndim == 3:  # colour: pixel_array already converted YBR to RGB
        rgb = raw[..., :3].astype(np.float32)
        top = float(2 ** int(ds.get("BitsStored", 8) or 8) - 1)
        display = np.clip(rgb / top, 0.0, 1.0)
        modality_values = rgb
        default_window = None
        presets: list[WindowPreset] = []
        photometric = "RGB"
    else:
        try:
            modality_values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
        except Exception as exc:
            raise StudyLoadError(f"{path.name}: the Modality LUT (rescale) is invalid.") from exc
        display, default_window = _to_display(ds, modality_values, path)
        presets = _window_presets(ds, modality_values, modality)

    if not np.all(np.isfinite(display)):
        raise StudyLoadError(f"{path.name}: the image contains invalid (non-finite) values.")
    return Study(
        path=path,
        source_format="dicom",
        display=np.ascontiguousarray(display, dtype=np.float32),
        raw=raw,
        modality_values=modality_values,
        photometric=photometric,
        modality=modality or "OT",
        body_part=body_part,
        pixel_spacing=_pixel_spacing(ds),
        frame_index=frame,
        frame_count=frames,
        bits_stored=int(ds.get("BitsStored", 8) or 8),
        transfer_syntax=_transfer_syntax_name(ds),
        sop_class=_sop_class_name(ds),
        window_presets=presets,
        default_window=default_window,
        identifiers=_identifiers(ds),
        tags=_tag_rows(ds),
        warnings=_warnings(ds, modality, body_part, frames, frame),
    )
