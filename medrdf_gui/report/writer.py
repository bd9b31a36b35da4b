"""Rendering the report to PDF bytes and writing them atomically.

The PDF is rendered in memory first, so a drawing error never touches the disk; the bytes then go to a temp
file in the destination folder, are flushed to disk and renamed over the target with ``os.replace`` (atomic on
one file system). Any failure removes the temp file, leaves an existing report untouched, and raises
:class:`ReportError` with one line naming the path.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages

from .._version import __version__
from ..imaging import Study
from ..robust.result import Result
from .errors import ReportError
from .figure import build_page

# Fixed, non-identifying PDF metadata in both modes: identifiers never reach the document information
# dictionary, whatever the report's body shows. ``None`` removes matplotlib's key.
PDF_METADATA = {
    "Title": "MedRDF Viewer report",
    "Subject": "Robust diagnosis by MedRDF (research use only, not a medical device)",
    "Author": None,
    "Keywords": None,
}


def _now_text(now: dt.datetime | None) -> str:
    moment = (now or dt.datetime.now()).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def render_report(result: Result, study: Study, maps: Any | None = None, *, card: Any | None = None,
                  deidentify: bool = False, image: np.ndarray | None = None,
                  generated: dt.datetime | None = None) -> bytes:
    """The report as PDF bytes.

    ``maps`` is an :class:`~medrdf_gui.explain.AttentionMaps` (None: panels say "not computed"); ``card`` the
    model's card, for architecture and test accuracy; ``image`` the rendering to show (default the study's
    default display, which is what the model saw); ``generated`` the report time (default now).
    """
    page = build_page(result, study, study.display if image is None else image, maps, card,
                      deidentify=deidentify, generated=_now_text(generated), version=__version__)
    buffer = io.BytesIO()
    metadata = dict(PDF_METADATA, Creator=f"MedRDF Viewer {__version__}")
    with PdfPages(buffer, metadata=metadata) as pdf:
        pdf.savefig(page)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``; ReportError on failure."""
    path = Path(path)
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReportError(f"Cannot write the report {path}: {reason}.") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def write_report(path: str | os.PathLike[str], result: Result, study: Study, maps: Any | None = None, *,
                 card: Any | None = None, deidentify: bool = False, image: np.ndarray | None = None,
                 generated: dt.datetime | None = None) -> Path:
    """Render and atomically write the PDF report to ``path``; returns the path. Raises :class:`ReportError`."""
    target = Path(path)
    if target.is_dir():
        raise ReportError(f"Cannot write the report {target}: it is a folder.")
    if not target.parent.is_dir():
        raise ReportError(f"Cannot write the report {target}: the folder {target.parent} does not exist.")
    write_atomically(target, render_report(result, study, maps, card=card, deidentify=deidentify, image=image,
                                           generated=generated))
    return target
