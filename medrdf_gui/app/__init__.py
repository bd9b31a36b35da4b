"""The desktop viewer (PySide6). The only subpackage that imports Qt.

Everything clinical (loading, windowing, models, the MedRDF engine) lives in the Qt-free packages beside this
one; the widgets here only display what those return, so the CLI, the scripts and the GUI cannot disagree.
"""

from .qt_compat import guard_none_refcount

# Before any widget exists: PySide6 6.12.0 on Python 3.11 would otherwise abort the app (see qt_compat).
guard_none_refcount()
