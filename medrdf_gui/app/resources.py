"""Icons, stylesheet and palette, read from ``paths.resources_dir()``.

A missing resource folder (e.g. a wheel installed without ``resources/``) degrades to text-only actions and the
plain Fusion look instead of failing: the viewer must still open an image.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from .. import paths

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """The SVG icon ``resources/icons/<name>.svg`` (an empty icon when absent)."""
    path = paths.resources_dir() / "icons" / f"{name}.svg"
    if not path.is_file():
        log.debug("icon %s not found at %s", name, path)
        return QIcon()
    result = QIcon(str(path))
    _add_faded_disabled_mode(result)
    return result


def _add_faded_disabled_mode(target: QIcon) -> None:
    """Disabled actions must look disabled: Fusion's generated grey is indistinguishable from our grey icons."""
    for size in (16, 20, 24, 32):
        normal = target.pixmap(QSize(size, size))
        faded = QPixmap(normal.size())
        faded.setDevicePixelRatio(normal.devicePixelRatio())
        faded.fill(Qt.GlobalColor.transparent)
        painter = QPainter(faded)
        painter.setOpacity(0.3)
        painter.drawPixmap(0, 0, normal)
        painter.end()
        target.addPixmap(faded, QIcon.Mode.Disabled)


def stylesheet() -> str:
    """The accent stylesheet, or "" when it is missing."""
    path = paths.resources_dir() / "style.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.debug("stylesheet not found at %s", path)
        return ""


def dark_palette() -> QPalette:
    """A neutral dark palette: radiographs are read in dim rooms, and a bright UI around them hurts contrast."""
    palette = QPalette()
    base, window, text = QColor("#1b2129"), QColor("#222a33"), QColor("#e6ebf0")
    disabled = QColor("#6f7983")
    palette.setColor(QPalette.ColorRole.Window, window)
    palette.setColor(QPalette.ColorRole.WindowText, text)
    palette.setColor(QPalette.ColorRole.Base, base)
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#232b35"))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor("#2c3541"))
    palette.setColor(QPalette.ColorRole.ToolTipText, text)
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8a949e"))
    palette.setColor(QPalette.ColorRole.Text, text)
    palette.setColor(QPalette.ColorRole.Button, QColor("#2a333e"))
    palette.setColor(QPalette.ColorRole.ButtonText, text)
    palette.setColor(QPalette.ColorRole.BrightText, QColor("#ff6b6b"))
    palette.setColor(QPalette.ColorRole.Link, QColor("#64b5f6"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2d6cdf"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_look(app: QApplication) -> None:
    """Fusion + dark palette + accent stylesheet + window icon, for the real app and for screenshots alike."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(icon("app"))
