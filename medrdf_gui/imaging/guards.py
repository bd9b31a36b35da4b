"""Process-level guards around third-party DICOM code: native decoders' stderr chatter and pydicom's logger.

Why they exist:

* openjpeg ("Failed to decode tile 1/1"), libjpeg ("Corrupt JPEG data: premature end of data segment") and
  pylibjpeg-rle's Rust panics write straight to file descriptor 2. The CLI promises exactly one line on stderr
  per bad file, and the GUI has no console, so :func:`native_stderr_captured` routes fd 2 to a temporary file
  while a frame is decoded and hands the text back (logged at debug, turned into a study warning when the
  decoder still produced an image).
* pydicom logs malformed values verbatim at WARNING level ("Invalid value for VR DS: '9RG1'."), and with its
  debugging switch on it dumps every element. Those records propagate to whatever handler the application
  installs, so a patient ID that a damaged file stores under the wrong VR would reach the log.
  :class:`PydicomPrivacyFilter` withholds every quoted literal and drops pydicom's DEBUG records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from typing import Iterator

_MAX_CAPTURED = 64 << 10
_redirect_lock = threading.Lock()
_QUOTED = re.compile(r"""b?(['"]).*""", re.DOTALL)


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[list[str]]:
    """Redirect fd 2 into a temporary file for the duration of the block; yield the list that receives its lines.

    fd 2 is process-wide: text another thread writes during the block is captured too (and logged at debug
    instead of shown). Concurrent blocks do not nest the redirection: only the first one redirects, the others
    run inside it. Where fd 2 cannot be duplicated (no console), the block simply runs unredirected.
    """
    lines: list[str] = []
    if not _redirect_lock.acquire(blocking=False):
        yield lines
        return
    try:
        try:
            saved = os.dup(2)
        except OSError:
            yield lines
            return
        with tempfile.TemporaryFile() as sink:
            _flush_python_stderr()
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                _flush_python_stderr()
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                lines.extend(sink.read(_MAX_CAPTURED).decode("utf-8", "replace").splitlines())
    finally:
        _redirect_lock.release()


def _flush_python_stderr() -> None:
    with contextlib.suppress(Exception):
        sys.stderr.flush()


class PydicomPrivacyFilter(logging.Filter):
    """Withhold DICOM values from pydicom's log records (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return False  # debugging dumps: element values in full
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop its arguments rather than fail
            message = str(record.msg)
        record.msg = _QUOTED.sub("[value withheld]", message)
        record.args = None
        record.exc_info = None  # the exception text may quote the value as well
        record.exc_text = None
        return True


_FILTER = PydicomPrivacyFilter()


def install_pydicom_privacy_filter() -> None:
    """Attach the filter to pydicom's loggers (idempotent). A logger filter does not see records of child
    loggers, so the children pydicom uses are listed too."""
    for name in ("pydicom", "pydicom.pixels.decoders.base", "pydicom.pixels.utils", "pydicom.pixels.encoders.base"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
