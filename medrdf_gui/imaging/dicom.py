"""DICOM reading: decode one frame, apply the Modality LUT and VOI in the order the standard defines.

Every step is pydicom's own (``pixel_array`` with the installed pixel handlers, ``apply_modality_lut``,
``apply_voi_lut`` / ``apply_windowing``); this module only chooses the frame, converts colour, and turns
pydicom's many exception types into one :class:`StudyLoadError` with a sentence a radiologist understands.

Hostile or damaged files are expected: every header value is read defensively (a value pydicom cannot convert
makes that one value unavailable, not the file), compressed frames are checked for a size that disagrees with
the header before a native decoder sees them (see :mod:`.codestream`), native decoders run with their stderr
captured (see :mod:`.guards`), and messages only ever quote non-identifying facts (sizes, UIDs, codes).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.encaps import get_frame
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from ..alerts import DAMAGED_IMAGE, NOT_CHEST_RADIOGRAPH, Alert
from .codestream import MAX_RATIO, RATIO_EXEMPT_BYTES, declared_size, inflated_size_exceeds
from .errors import StudyLoadError
from .guards import install_pydicom_privacy_filter, native_stderr_captured
from .study import IDENTIFYING_KEYWORDS, RADIOGRAPH_MODALITIES, Study, TagRow
from .windowing import CT_PRESETS, WindowPreset, radiograph_presets, range_window, render_window

log = logging.getLogger(__name__)
install_pydicom_privacy_filter()

MAX_PIXELS = 100_000_000  # per frame; larger is almost surely corrupt or a decompression bomb
# A deflated data set may not inflate beyond this: 100 MP × 16 bit is 200 MB, and inflating is all in memory.
MAX_INFLATED_BYTES = 256 << 20
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")
_CODE_RE = re.compile(r"[A-Z0-9_ ]{1,16}")
DECODER_COMPLAINED = "The image decoder reported damaged data; parts of the image may be missing or wrong."
# What libjpeg, openjpeg, CharLS, GDCM and a Rust panic print when the data is damaged. fd 2 is process-wide,
# so text captured during a decode may come from another thread; only these lines flag the study.
_DECODER_MESSAGE = re.compile(r"(?i)jpeg|huffman|marker|\btile|codestream|decod|\bSO[SFI]\b|stream|panicked|segment|gdcm")
_MAX_TAG_VALUE_CHARS = 160
_CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "CHEST_TO_PELVIS"}


def _refuse_deflate_bomb(path: Path) -> None:
    """pydicom inflates a Deflated Explicit VR data set in one ``zlib.decompress`` call: a 3 MB file can claim
    3 GB. Stream-count the inflated size first and refuse beyond :data:`MAX_INFLATED_BYTES`."""
    try:
        with path.open("rb") as fh:
            preamble = fh.read(132)
            if len(preamble) < 132 or preamble[128:] != b"DICM":
                return  # a deflated data set needs file meta, and file meta needs the preamble
            meta = pydicom.filereader._read_file_meta_info(fh)
            if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
                return
            too_big = inflated_size_exceeds(fh, MAX_INFLATED_BYTES)
    except StudyLoadError:
        raise
    except Exception:  # unreadable meta: dcmread reports it below
        return
    if too_big:
        raise StudyLoadError(
            f"{path.name} expands to more than {MAX_INFLATED_BYTES >> 20} MB when decompressed "
            "(possible decompression bomb); refused."
        )


def read_dataset(path: Path) -> FileDataset:
    """Parse a DICOM file (with or without the 128-byte preamble) or raise StudyLoadError."""
    _refuse_deflate_bomb(path)
    try:
        ds = pydicom.dcmread(path, force=True)
    except InvalidDicomError as exc:
        raise StudyLoadError(f"{path.name} is not a DICOM file.") from exc
    except PermissionError as exc:
        raise StudyLoadError(f"{path.name} cannot be read (permission denied).") from exc
    except FileNotFoundError as exc:
        raise StudyLoadError(f"{path.name} does not exist.") from exc
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
        if getattr(ds, "preamble", None) is not None:  # 'DICM' was there: a DICOM file cut short or wiped
            raise StudyLoadError(f"{path.name} is damaged or truncated and cannot be read as DICOM.")
        raise StudyLoadError(f"{path.name} is not a DICOM file.")
    return ds


def _value(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword)``, but a value pydicom cannot convert (wrong length for its VR, unknown VR) is absent."""
    try:
        value = ds.get(keyword, default)
    except Exception:
        log.debug("unreadable header value (%s)", keyword)
        return default
    return default if value is None else value


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int | None:
    """An integer header value, or ``default`` when it is missing, multi-valued or not a number."""
    value = _value(ds, keyword)
    if value is None or value == "" or isinstance(value, (list, tuple, pydicom.multival.MultiValue, bytes)):
        return default
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _text(ds: Dataset, keyword: str, default: str = "") -> str:
    value = _value(ds, keyword)
    try:
        return default if value in (None, "") else str(value)
    except Exception:
        return default


def _code(ds: Dataset, keyword: str) -> str:
    """A code string (Modality, BodyPartExamined) as it may appear in a message or warning: upper-case letters,
    digits, '_' and space, at most 16 characters — anything else (a damaged file) becomes ''."""
    text = _text(ds, keyword).strip().upper()
    return text if _CODE_RE.fullmatch(text) else ""


def _uid_text(value: Any) -> str:
    """The registered name of a UID, the UID itself when unregistered, '' when it is not UID-shaped."""
    text = str(value or "").strip().rstrip("\x00")
    if not _UID_RE.fullmatch(text) or len(text) > 64:
        return ""
    try:
        return UID(text).name
    except Exception:
        return text


def _sop_class_name(ds: Dataset) -> str:
    return _uid_text(_value(ds, "SOPClassUID"))


def _transfer_syntax_name(ds: FileDataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = _value(meta, "TransferSyntaxUID") if meta is not None else None
    if not ts:
        return "Implicit VR Little Endian (no file meta)"
    return _uid_text(ts) or "unknown (damaged UID)"


def _ensure_transfer_syntax(ds: FileDataset) -> None:
    """Legacy files without file meta: pydicom read them as implicit/explicit LE; record that for decoding."""
    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit = getattr(ds, "is_implicit_VR", True)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian


def _frame_count(ds: Dataset) -> int:
    return max(1, _int(ds, "NumberOfFrames", 1) or 1)


def _check_pixel_data_size(ds: FileDataset, path: Path, frame: int, frames: int, rows: int, cols: int,
                           notes: list[str]) -> None:
    """Refuse pixel data whose size contradicts the header, before any decoder allocates memory for it.

    Native (uncompressed) data must be exactly Rows × Columns × samples × BitsAllocated × frames long, plus at
    most the one padding byte of PS3.5 8.1.1 (pydicom only rejects shorter data and quietly drops excess, which
    then shows a sheared or cropped picture). Excess made only of zero bytes, less than one frame long, is
    trailing padding (pydicom's own MR_small_padded.dcm carries 128 such bytes): accepted, with a warning. A compressed frame must declare the header's size in its own
    SOF/SIZ segment and may not promise more than MAX_RATIO× its length (see :mod:`.codestream`).
    """
    if "PixelData" not in ds:
        return  # Float/Double Float Pixel Data: native, checked by pydicom itself
    pixel_data = _value(ds, "PixelData")
    if not isinstance(pixel_data, (bytes, bytearray)) or not pixel_data:
        raise StudyLoadError(f"{path.name}: the pixel data element is empty; the file is damaged.")
    ts = ds.file_meta.TransferSyntaxUID
    try:
        encapsulated = UID(str(ts)).is_encapsulated
        expected = int(get_expected_length(ds, "bytes"))
    except Exception:
        return  # an unusable header: the decoder refuses it with a clearer message
    if not encapsulated:
        actual = len(pixel_data)
        excess = actual - expected - expected % 2
        if 0 < excess < expected // max(frames, 1) and not any(memoryview(pixel_data)[expected:]):
            notes.append(f"The pixel data carries {excess:,} bytes of zero padding beyond the image its header "
                         "describes; they were ignored.")
            return
        if actual < expected or actual > expected + expected % 2:
            raise StudyLoadError(
                f"{path.name}: the pixel data is {actual:,} bytes, but its header (size, bits, frames) needs "
                f"{expected:,}; the file is damaged."
            )
        return
    try:
        data = get_frame(pixel_data, frame, number_of_frames=frames)
    except Exception:
        return  # the decoder uses the same frame lookup and will report the damage
    declared = declared_size(bytes(data[:65536]))
    if declared is not None and (declared.width, declared.height) != (cols, rows):
        raise StudyLoadError(
            f"{path.name}: the compressed image declares {declared.width}×{declared.height} pixels but the header "
            f"says {cols}×{rows}; the file is damaged."
        )
    if declared is not None and declared.components > 4:
        raise StudyLoadError(f"{path.name}: the compressed image declares {declared.components} colour components; the file is damaged.")
    per_frame = expected // max(frames, 1)
    if per_frame > RATIO_EXEMPT_BYTES and per_frame > MAX_RATIO * max(len(data), 1):
        raise StudyLoadError(
            f"{path.name}: {len(data):,} bytes of compressed data would expand to {per_frame:,} bytes "
            "(possible decompression bomb); refused."
        )


def _decode_frame(ds: FileDataset, path: Path, frame: int, frames: int, notes: list[str]) -> np.ndarray:
    rows, cols = _int(ds, "Rows", 0) or 0, _int(ds, "Columns", 0) or 0
    if rows <= 0 or cols <= 0:
        raise StudyLoadError(f"{path.name} has no valid image size (Rows/Columns missing).")
    if rows < 2 or cols < 2:
        raise StudyLoadError(f"{path.name} is only {cols}×{rows} pixels; that is not a radiograph.")
    if rows * cols > MAX_PIXELS:
        raise StudyLoadError(f"{path.name} is {cols}×{rows} pixels, larger than the {MAX_PIXELS // 1_000_000} megapixel limit.")
    if not 0 <= frame < frames:
        raise StudyLoadError(f"{path.name} has {frames} frame(s); frame {frame + 1} does not exist.")
    _check_pixel_data_size(ds, path, frame, frames, rows, cols, notes)
    unsupported = StudyLoadError(
        f"{path.name} uses the compression '{_transfer_syntax_name(ds)}', which no installed decoder supports."
    )
    with native_stderr_captured() as chatter:
        try:
            arr = pixel_array(ds, index=frame if frames > 1 else None, raw=False)
        except NotImplementedError as exc:
            raise unsupported from exc
        except RuntimeError as exc:
            text = str(exc).lower()
            if "does not support" in text or "no pixel data decoders" in text or "missing required dependencies" in text:
                raise unsupported from exc
            raise StudyLoadError(f"{path.name}: the image data is damaged and cannot be decoded.") from exc
        except MemoryError as exc:
            raise StudyLoadError(f"{path.name}: the image is too large to decode in the available memory.") from exc
        except Exception as exc:
            raise StudyLoadError(f"{path.name}: the image data is damaged or incomplete and cannot be decoded.") from exc
        except BaseException as exc:  # pylibjpeg-rle turns a Rust panic on damaged RLE into a BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise StudyLoadError(f"{path.name}: the image data is damaged and cannot be decoded.") from exc
    if chatter:
        log.debug("stderr while decoding (%d line(s)): %s", len(chatter), " | ".join(chatter)[:500])
        if any(_DECODER_MESSAGE.search(line) for line in chatter):  # not e.g. a Qt warning from another thread
            notes.append(DECODER_COMPLAINED)
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4) and frames == 1:
        arr = arr[0]
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or arr.shape[0] != rows or arr.shape[1] != cols:
        raise StudyLoadError(f"{path.name}: the decoded image does not have the size its header declares.")
    return arr


def _identifiers(ds: Dataset) -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword in IDENTIFYING_KEYWORDS:
        value = _text(ds, keyword)
        if value:
            found[keyword] = value
    return found


def _tag_rows(ds: Dataset, depth: int = 0) -> list[TagRow]:
    """Flatten the header for the tags panel; pixel data and huge values are summarised, not copied.

    An element whose value cannot be converted (damaged length, unknown VR) gets a row that says so rather than
    failing the whole file: the tags panel is where a user would look for what is wrong with it.
    """
    rows: list[TagRow] = []
    identifying = set(IDENTIFYING_KEYWORDS)
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except Exception:
            keyword = pydicom.datadict.keyword_for_tag(tag) or "(private)"
            text = f"({tag.group:04X},{tag.element:04X})"
            rows.append(TagRow(text, keyword, "??", "<unreadable value>", depth, keyword in identifying))
            continue
        keyword = elem.keyword or "(private)"
        tag_text = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        try:
            if elem.VR == "SQ":
                rows.append(TagRow(tag_text, keyword, "SQ", f"{len(elem.value)} item(s)", depth, keyword in identifying))
                for item in elem.value:
                    rows.extend(_tag_rows(item, depth + 1))
                continue
            if elem.tag == 0x7FE00010 or elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
                length = len(elem.value) if elem.value is not None and not callable(elem.value) else 0
                rows.append(TagRow(tag_text, keyword, str(elem.VR), f"<{length} bytes>", depth))
                continue
            text = str(elem.value)
        except Exception:
            text = "<unreadable value>"
        if len(text) > _MAX_TAG_VALUE_CHARS:
            text = text[: _MAX_TAG_VALUE_CHARS - 1] + "…"
        rows.append(TagRow(tag_text, keyword, str(elem.VR), text, depth, keyword in identifying))
    return rows


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]


def _file_windows(ds: Dataset) -> list[WindowPreset]:
    """The file's windows that can be used: a finite centre and a positive finite width (a damaged value skips
    that window, not the file)."""
    windows: list[WindowPreset] = []
    centers, widths = _value(ds, "WindowCenter"), _value(ds, "WindowWidth")
    if centers is None or widths is None:
        return windows
    explanations = _as_list(_value(ds, "WindowCenterWidthExplanation"))
    function = _text(ds, "VOILUTFunction", "LINEAR").upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    for i, (c, w) in enumerate(zip(_as_list(centers), _as_list(widths))):
        try:
            center, width = float(c), float(w)
        except (TypeError, ValueError, OverflowError):
            continue
        if not (np.isfinite(center) and np.isfinite(width) and width > 0):
            continue
        label = explanations[i] if i < len(explanations) and explanations[i] else f"DICOM window {i + 1}"
        windows.append(WindowPreset(f"{str(label)[:64]} (file)", center, width, function))
    return windows


def _window_presets(ds: Dataset, values: np.ndarray, modality: str) -> list[WindowPreset]:
    """The file's windows, then the CT presets for CT, then data-driven radiograph presets."""
    presets = _file_windows(ds)
    if modality == "CT":
        presets.extend(CT_PRESETS)
    presets.extend(radiograph_presets(values))
    return presets


def _to_display(ds: Dataset, modality_values: np.ndarray, notes: list[str]) -> tuple[np.ndarray, WindowPreset | None]:
    """Default rendering: the file's VOI LUT sequence, else its first window, else the full data range.

    An unusable VOI LUT or window is a note on the study (the user sees it), not a log line on stderr.
    """
    invert = _text(ds, "PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1"
    if _value(ds, "VOILUTSequence"):
        try:
            lut_input = modality_values
            if np.array_equal(lut_input, np.round(lut_input)):  # LUT lookups index by integer value
                lut_input = lut_input.astype(np.int64)
            out = apply_voi_lut(lut_input, ds, index=0, prefer_lut=True).astype(np.float64)
            lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
            lo, hi = float(lut.min()), float(lut.max())
            display = np.clip((out - lo) / max(hi - lo, 1.0), 0.0, 1.0).astype(np.float32)
            if np.isfinite(display).all():
                return (1.0 - display if invert else display), None
        except Exception:
            pass
        log.debug("VOI LUT sequence unusable; falling back to the data range")
        notes.append("The file's VOI LUT is unusable; the image is shown over its data range.")
    if "WindowCenter" in ds and "WindowWidth" in ds:
        file_windows = _file_windows(ds)
        if file_windows:
            window = file_windows[0]
            return render_window(modality_values, window.center, window.width, window.function, invert), window
        log.debug("window tags unusable; falling back to the data range")
        notes.append("The file's window tags are unusable; the image is shown over its data range.")
    window = range_window(modality_values)
    return render_window(modality_values, window.center, window.width, window.function, invert), window


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = _value(ds, keyword)
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) and len(value) == 2:
            try:
                spacing = float(value[0]), float(value[1])
            except (TypeError, ValueError, OverflowError):
                continue
            if all(np.isfinite(spacing)) and min(spacing) > 0:
                return spacing
    return None


def _scope_alerts(modality: str, body_part: str) -> list[Alert]:
    """What the file's own header says against it being a chest radiograph (an alert: the flag cannot be ACCEPT)."""
    alerts: list[Alert] = []
    if modality not in RADIOGRAPH_MODALITIES:
        alerts.append(Alert(NOT_CHEST_RADIOGRAPH, f"{modality or 'Unknown-modality'} image: the model was trained on "
                                                  "chest radiographs (CR/DX)."))
    if body_part and body_part not in _CHEST_BODY_PARTS:
        alerts.append(Alert(NOT_CHEST_RADIOGRAPH, f"Body part is {body_part}, not chest: the model was trained on "
                                                  "chest radiographs."))
    return alerts


def _warnings(ds: Dataset, frames: int, frame: int) -> list[str]:
    notes: list[str] = []
    if frames > 1:
        notes.append(f"Multi-frame image: frame {frame + 1} of {frames} is shown and analysed.")
    if _text(ds, "LossyImageCompression") == "01":
        notes.append("The image was lossy-compressed; fine detail may be altered.")
    return notes


def load_dicom(path: Path, frame: int = 0) -> Study:
    """Load one frame of a DICOM file as a :class:`Study`."""
    ds = read_dataset(path)
    try:
        return _study(ds, path, frame)
    except StudyLoadError:
        raise
    except MemoryError:
        raise StudyLoadError(f"{path.name} is too large to load into the available memory.") from None
    except Exception as exc:  # a header value that survived every targeted check above, but not the arithmetic
        log.debug("unusable DICOM header (%s)", type(exc).__name__)
        raise StudyLoadError(f"{path.name} has a damaged header and cannot be shown.") from None


def _study(ds: FileDataset, path: Path, frame: int) -> Study:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        kind = _sop_class_name(ds) or _code(ds, "Modality") or "non-image object"
        if "Rows" in ds or kind.endswith("Image Storage"):  # an image header without its pixels: cut short
            raise StudyLoadError(f"{path.name} is a DICOM {kind} without its pixel data; the file is probably truncated.")
        raise StudyLoadError(f"{path.name} is a DICOM {kind} and contains no image.")
    _ensure_transfer_syntax(ds)
    frames = _frame_count(ds)
    notes: list[str] = []
    raw = _decode_frame(ds, path, frame, frames, notes)
    photometric = _text(ds, "PhotometricInterpretation", "MONOCHROME2")
    modality = _code(ds, "Modality")
    body_part = _code(ds, "BodyPartExamined")
    bits_stored = min(max(_int(ds, "BitsStored", 8) or 8, 1), 32)

    if raw.ndim == 3:  # colour: pixel_array already converted YBR to RGB
        rgb = raw[..., :3].astype(np.float32)
        top = float(2**bits_stored - 1)
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
        if not np.all(np.isfinite(modality_values)):
            raise StudyLoadError(f"{path.name}: the image contains invalid (non-finite) values.")
        display, default_window = _to_display(ds, modality_values, notes)
        presets = _window_presets(ds, modality_values, modality)

    if not np.all(np.isfinite(display)):
        raise StudyLoadError(f"{path.name}: the image contains invalid (non-finite) values.")
    scope = _scope_alerts(modality, body_part)
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
        bits_stored=bits_stored,
        transfer_syntax=_transfer_syntax_name(ds),
        sop_class=_sop_class_name(ds),
        window_presets=presets,
        default_window=default_window,
        identifiers=_identifiers(ds),
        tags=_tag_rows(ds),
        warnings=[a.message for a in scope] + _warnings(ds, frames, frame) + notes,
        alerts=scope + ([Alert(DAMAGED_IMAGE, DECODER_COMPLAINED)] if DECODER_COMPLAINED in notes else []),
    )
