"""``load_study``: the one entry point from a file path to a :class:`Study`.

DICOM is recognised by its ``DICM`` magic at byte 128, by a ``.dcm``/``.dicom`` suffix, or — for legacy files
without a preamble — by a forced parse when the file has no suffix or Pillow cannot read it.

The contract, fuzz-tested in ``tests/test_fuzz_loader.py``: :func:`load_study` returns a Study or raises
:class:`StudyLoadError` with one sentence, whatever the bytes. The sentence never carries a DICOM value, and the
error carries no chained library exception (whose text may quote one), so a crash report or a logged traceback
cannot leak a header value either. Only an unexpected loader bug re-raises as-is under ``MEDRDF_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path

from .dicom import load_dicom
from .errors import StudyLoadError
from .raster import load_raster
from .study import Study

DICOM_SUFFIXES = {".dcm", ".dicom", ".dic", ""}
RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def _check_readable(path: Path) -> None:
    try:
        if not path.exists():
            if path.is_symlink():  # exists() follows links: a dangling or circular link looks absent
                raise StudyLoadError(f"{path.name} is a broken or circular symbolic link.")
            raise StudyLoadError(f"{path.name} does not exist.")
        if path.is_dir():
            raise StudyLoadError(f"{path.name} is a folder, not an image file.")
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or stream forever
            raise StudyLoadError(f"{path.name} is not a regular file.")
        if not os.access(path, os.R_OK):
            raise StudyLoadError(f"{path.name} cannot be read (permission denied).")
        if info.st_size == 0:
            raise StudyLoadError(f"{path.name} is empty (0 bytes).")
    except OSError as exc:  # e.g. a symlink loop or a path too long
        raise StudyLoadError(f"{path.name} cannot be opened ({exc.strerror or 'file system error'}).") from exc


def _has_dicom_magic(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except PermissionError as exc:
        raise StudyLoadError(f"{path.name} cannot be read (permission denied).") from exc
    except OSError as exc:
        raise StudyLoadError(f"{path.name} cannot be opened ({exc.strerror or 'file system error'}).") from exc
    return len(head) == 132 and head[128:132] == b"DICM"


log = logging.getLogger(__name__)


def load_study(path: str | os.PathLike[str], frame: int = 0) -> Study:
    """Load a DICOM or raster image file; raise :class:`StudyLoadError` with a one-line reason on failure.

    Library warnings (pydicom's VR complaints about slightly malformed headers, Pillow's) are caught here and
    logged at debug level: they are not the user's business and must not clutter the CLI's stderr.
    """
    path = Path(path)
    refusal: str | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = _load(path, frame)
    except StudyLoadError as exc:
        cause = exc.__cause__ or exc.__context__
        log.debug("refused a file (%s)", type(cause).__name__ if cause is not None else "no library error")
        refusal = str(exc)
    except MemoryError:
        refusal = f"{path.name} is too large to load into the available memory."
    except Exception as exc:  # a loader bug on unforeseen input: still one sentence, never a traceback
        if os.environ.get("MEDRDF_DEBUG"):
            raise
        log.debug("loader failure (%s)", type(exc).__name__)
        refusal = f"{path.name} could not be read (internal error: {type(exc).__name__})."
    _log_warnings(caught)
    if refusal is not None:
        # Raised outside the except blocks: no __cause__ and no __context__, so no library message (which may
        # quote a header value) travels with the error into a traceback, a log or a crash report.
        raise StudyLoadError(refusal)
    return study


def _log_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Log each warning's category only (pydicom's texts quote header values), then forget the texts."""
    for item in caught:
        log.debug("loader warning (%s)", item.category.__name__)
    caught.clear()


def _load(path: Path, frame: int) -> Study:
    _check_readable(path)
    suffix = path.suffix.lower()
    if _has_dicom_magic(path):
        return load_dicom(path, frame)
    if suffix in RASTER_SUFFIXES:
        return load_raster(path)
    if suffix in DICOM_SUFFIXES:
        return load_dicom(path, frame)
    try:
        return load_raster(path)
    except StudyLoadError:
        try:
            return load_dicom(path, frame)
        except StudyLoadError:
            raise StudyLoadError(f"{path.name} is neither a DICOM file nor an image this viewer can read.") from None
