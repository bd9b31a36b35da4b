"""Work-around for a PySide6 reference-counting bug that aborts the app on CPython 3.11.

PySide6-Essentials 6.12.0 drops one reference to ``None`` every time Python calls a Qt method that returns
nothing (``update()``, ``setText()``, ``processEvents()``…). On CPython ≥ 3.12 ``None`` is immortal (PEP 683),
so nothing happens; on 3.11 its count falls to zero after a few thousand such calls and the interpreter aborts
with "Fatal Python error: none_dealloc" — a viewer would die after a minute of windowing. PySide6 6.11.3 is
not affected.

The guard probes for the leak instead of trusting a version number, and only if the leak is present raises
``None``'s count far beyond anything a session can drop: the immortality that 3.12 gives ``None`` anyway.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PROBE_CALLS = 200
_HEADROOM = 1 << 40  # ~10¹² void calls before the count could reach zero again


def leaks_none_references() -> bool:
    """True when void PySide6 calls decrement ``None``'s reference count (the 6.12.0 bug)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    return before - sys.getrefcount(None) >= _PROBE_CALLS // 2


def guard_none_refcount() -> bool:
    """Apply the work-around if this interpreter and PySide6 need it; returns whether it was applied."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not leaks_none_references():
        return False
    # ob_refcnt is the first field of every object in a release build of CPython 3.11.
    ctypes.c_ssize_t.from_address(id(None)).value += _HEADROOM
    log.info("PySide6 %s leaks references to None on Python %d.%d; guard applied "
                "(upgrade Python to 3.12+ or use PySide6 other than 6.12.0)", _pyside_version(), *sys.version_info[:2])
    return True


def _pyside_version() -> str:
    try:
        import PySide6

        return PySide6.__version__
    except (ImportError, AttributeError):
        return "?"
