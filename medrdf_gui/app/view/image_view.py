"""The image view: fit, zoom, pan, window/level by right-drag, invert, and the pixel value under the cursor.

It shows ``Study.render(window, invert)`` — the loader's own windowing — so the screen, the model input and the
report agree on what a window means. The view keeps no pixel logic of its own beyond quantising to 8 bits.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QPixmap
from PySide6.QtWidgets import QWidget

from ...imaging import Study, WindowPreset
from ...imaging.windowing import range_window
from ..view.qimage_conversion import qimage_from_bytes, to_display_bytes
from ..view.zoomable_view import ZoomableView

# A right-drag across this many screen pixels changes the window by the whole data range: fine enough for a
# 10-bit radiograph, fast enough for 16-bit CT.
WL_DRAG_PIXELS_PER_RANGE = 600.0
CUSTOM_WINDOW_NAME = "Custom"


class ImageView(ZoomableView):
    """Shows one :class:`Study`; emits what the status bar and the preset box need to know."""

    pixelHovered = Signal(str)  # "x 12, y 40 · value 1023 · shown 128", "" when the cursor leaves the image
    windowChanged = Signal(object)  # WindowPreset, or None for the file's own VOI LUT / a colour image
    rendered = Signal()  # the shown pixels changed (window, invert, study): views that show them re-read pixmap()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)  # the right button is window/level
        self.setToolTip("Wheel: zoom · left-drag: pan · right-drag: window (←→ width, ↑↓ level)")

        self._study: Study | None = None
        self._window: WindowPreset | None = None
        self._invert = False
        self._displayed: np.ndarray | None = None
        self._data_range = 1.0
        self._wl_origin: QPoint | None = None
        self._wl_start: WindowPreset | None = None
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)  # coalesces the many mouse moves of one drag into one render per loop
        self._render_timer.timeout.connect(self.render_now)

    # State --------------------------------------------------------------------------------------------------------

    @property
    def study(self) -> Study | None:
        return self._study

    @property
    def window(self) -> WindowPreset | None:
        return self._window

    @property
    def inverted(self) -> bool:
        return self._invert

    @property
    def displayed_pixels(self) -> np.ndarray | None:
        """The uint8 pixels on screen (before zoom), for the pixel readout and for tests."""
        return self._displayed

    # Study and window ---------------------------------------------------------------------------------------------

    def set_study(self, study: Study, keep_view: bool = False) -> None:
        """Show ``study``. ``keep_view`` (another frame of the same file) keeps zoom, pan, window and invert."""
        self._study = study
        values = study.modality_values
        self._data_range = max(float(np.nanmax(values) - np.nanmin(values)), 1e-6) if values.size else 1.0
        if not keep_view:
            self._window = study.default_window
            self._invert = False
            self._fit_mode = True
        self.render_now()
        if not keep_view:
            self.fit()
        self.windowChanged.emit(self._window)

    def clear(self) -> None:
        self._study, self._window, self._displayed = None, None, None
        self._item.setPixmap(QPixmap())
        self.pixelHovered.emit("")
        self.rendered.emit()

    def set_window(self, window: WindowPreset | None) -> None:
        """Apply a preset (None = the study's default rendering, e.g. its VOI LUT)."""
        if self._study is None:
            return
        self._window = window
        self._schedule_render()
        self.windowChanged.emit(window)

    def set_inverted(self, inverted: bool) -> None:
        if self._study is None or inverted == self._invert:
            return
        self._invert = inverted
        self._schedule_render()

    def reset(self) -> None:
        """Default window, no invert, fit to window."""
        if self._study is None:
            return
        self._invert = False
        self.set_window(self._study.default_window)
        self.fit()

    def render_now(self) -> None:
        """Render the current window and invert immediately (normally deferred to coalesce drag events)."""
        self._render_timer.stop()
        if self._study is None:
            return
        self._displayed = to_display_bytes(self._study.render(self._window, self._invert))
        self.set_pixmap(QPixmap.fromImage(qimage_from_bytes(self._displayed)))
        self.rendered.emit()

    def _schedule_render(self) -> None:
        if not self._render_timer.isActive():
            self._render_timer.start()

    # Events ---------------------------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton and self._can_window():
            self._wl_origin = event.position().toPoint()
            self._wl_start = self._window or range_window(self._study.modality_values)
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._wl_origin is not None and event.buttons() & Qt.MouseButton.RightButton:
            self._drag_window(event.position().toPoint())
            event.accept()
        else:
            super().mouseMoveEvent(event)
        self._report_pixel(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton and self._wl_origin is not None:
            self._drag_window(event.position().toPoint())
            self._wl_origin = self._wl_start = None
            self.viewport().unsetCursor()
            self.render_now()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: ANN001 - QEvent
        self.pixelHovered.emit("")
        super().leaveEvent(event)

    # Helpers --------------------------------------------------------------------------------------------------------

    def _can_window(self) -> bool:
        return self._study is not None and not self._study.is_color

    def _drag_window(self, position: QPoint) -> None:
        """Horizontal drag widens/narrows the window, vertical drag moves its centre (level)."""
        if self._wl_origin is None or self._wl_start is None:
            return
        delta = position - self._wl_origin
        per_pixel = self._data_range / WL_DRAG_PIXELS_PER_RANGE
        start = self._wl_start
        minimum_width = 1.0 if start.function.upper() == "LINEAR" else self._data_range / 1000.0
        width = max(minimum_width, start.width + delta.x() * per_pixel)
        center = start.center + delta.y() * per_pixel
        self._window = WindowPreset(CUSTOM_WINDOW_NAME, float(center), float(width), start.function)
        self._schedule_render()
        self.windowChanged.emit(self._window)

    def _report_pixel(self, view_position: QPointF) -> None:
        if self._study is None or self._displayed is None:
            return
        point = self._item.mapFromScene(self.mapToScene(view_position.toPoint()))
        col, row = math.floor(point.x()), math.floor(point.y())
        rows, cols = self._study.shape
        if not (0 <= row < rows and 0 <= col < cols):
            self.pixelHovered.emit("")
            return
        self.pixelHovered.emit(describe_pixel(self._study, self._displayed, row, col))


def describe_pixel(study: Study, displayed: np.ndarray, row: int, col: int) -> str:
    """The status-bar text for one pixel: position, stored value in modality units, and the shown grey level."""
    where = f"x {col}, y {row}"
    if study.is_color:
        r, g, b = (float(v) for v in study.modality_values[row, col, :3])
        return f"{where} · RGB {r:g}, {g:g}, {b:g}"
    unit = " HU" if study.modality == "CT" else ""
    value = float(study.modality_values[row, col])
    text = f"{where} · value {value:g}{unit} · shown {int(displayed[row, col])}"
    if study.pixel_spacing:
        dy, dx = study.pixel_spacing
        text += f" · {col * dx:.1f} mm, {row * dy:.1f} mm"
    return text
