"""Render ``resources/icons/app.svg`` into the raster app icons a desktop bundle needs.

Why: window managers, the Windows shell (``.ico``) and freedesktop launchers (``.png``) do not all read SVG, and
PyInstaller's ``EXE(icon=...)`` wants ``.ico``/``.icns``. The outputs are committed, so a build never depends on
this script; rerun it only when the SVG changes::

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_app_icon.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "resources" / "icons" / "app.svg"
PNG = ROOT / "resources" / "app-icon.png"
ICO = ROOT / "resources" / "app-icon.ico"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(size: int) -> bytes:
    """The SVG rendered by Qt's own SVG renderer (the same one the running app uses) at ``size``×``size``."""
    from PySide6.QtCore import QBuffer, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QPainter on QImage needs a Gui app
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"cannot render {SOURCE}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def main() -> int:
    from PIL import Image

    PNG.write_bytes(render_png(256))
    # Each ICO size is rendered from the vector source, not downscaled from 256 px, so small sizes stay sharp.
    frames = [Image.open(io.BytesIO(render_png(s))).convert("RGBA") for s in ICO_SIZES]
    frames[-1].save(ICO, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=frames[:-1])
    print(f"wrote {PNG.relative_to(ROOT)} and {ICO.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
