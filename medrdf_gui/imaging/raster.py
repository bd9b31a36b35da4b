"""PNG / JPEG / TIFF / BMP reading through Pillow, with the same Study contract as DICOM.

8-bit images map to [0, 1] by /255, exactly as the training pipeline reads the cxr3 PNGs; deeper images
(16-bit, 32-bit, float) are scaled over their data range, since their container depth says little about the
bits actually used.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import StudyLoadError
from .study import Study
from .windowing import WindowPreset, radiograph_presets, range_window, render_window

MAX_PIXELS = 100_000_000


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise StudyLoadError(
                    f"{path.name} is {width}×{height} pixels, larger than the {MAX_PIXELS // 1_000_000} megapixel limit."
                )
            image.load()
    except StudyLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise StudyLoadError(f"{path.name} declares an absurd image size (possible decompression bomb).") from exc
    except UnidentifiedImageError as exc:
        raise StudyLoadError(f"{path.name} is not an image file this viewer can read.") from exc
    except PermissionError as exc:
        raise StudyLoadError(f"{path.name} cannot be read (permission denied).") from exc
    except FileNotFoundError as exc:
        raise StudyLoadError(f"{path.name} does not exist.") from exc
    except MemoryError as exc:
        raise StudyLoadError(f"{path.name} is too large to decode in the available memory.") from exc
    except Exception as exc:  # Pillow's plugins raise OSError, SyntaxError, struct.error, IndexError, … on damage
        raise StudyLoadError(f"{path.name} is damaged or truncated and cannot be read.") from exc
    if width < 2 or height < 2:
        raise StudyLoadError(f"{path.name} is only {width}×{height} pixels; that is not a radiograph.")
    return image


def _pixels(image: Image.Image, path: Path) -> tuple[np.ndarray, str, list[str]]:
    """Return (array, kind, warnings) where kind is 'grey8', 'greyN' or 'rgb'."""
    notes: list[str] = []
    mode = image.mode
    if mode == "P":
        palette_mode = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(palette_mode)
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 255:
            notes.append("The image has transparent areas; transparency was ignored.")
        image = image.convert("RGB" if mode.startswith("RGB") or mode == "PA" else "L")
        mode = image.mode
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.uint8), "grey8", notes
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return np.asarray(image), "greyN", notes
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGB"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
            return rgb[..., 0].copy(), "grey8", notes  # grey stored as RGB (as in the cxr3 sources)
        return rgb, "rgb", notes
    raise StudyLoadError(f"{path.name} uses the pixel format '{mode}', which this viewer cannot display.")


def load_raster(path: Path) -> Study:
    """Load a PNG/JPEG/TIFF/BMP file as a :class:`Study`."""
    image = _open(path)
    fmt = (image.format or path.suffix.lstrip(".")).lower()
    arr, kind, notes = _pixels(image, path)
    if kind == "rgb":
        display = arr.astype(np.float32) / 255.0
        values = arr.astype(np.float32)
        window: WindowPreset | None = None
        presets: list[WindowPreset] = []
        bits = 8
    elif kind == "grey8":
        values = arr.astype(np.float32)
        window = WindowPreset("Full 8-bit range", 127.5, 255.0, "LINEAR_EXACT")
        display = values / 255.0
        presets = [window, *radiograph_presets(values)]
        bits = 8
    else:
        values = arr.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise StudyLoadError(f"{path.name}: the image contains invalid (non-finite) values.")
        window = range_window(values)
        display = render_window(values, window.center, window.width, window.function)
        presets = radiograph_presets(values)
        bits = 16 if arr.dtype.itemsize <= 2 else 32
    return Study(
        path=path,
        source_format=fmt,
        display=np.ascontiguousarray(display, dtype=np.float32),
        raw=arr,
        modality_values=values,
        photometric="RGB" if kind == "rgb" else "MONOCHROME2",
        modality="OT",
        bits_stored=bits,
        window_presets=presets,
        default_window=window,
        warnings=notes,
    )
