"""One attention-map pane (the image with a colour overlay) and the group that keeps panes in step.

The image under the overlay is the main view's own rendering (its window, level and invert), so the panes never
render pixels themselves; the overlay is a second pixmap item whose opacity and visibility are the panel's
controls. Scene coordinates are image pixels, as in the main view.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QWidget

from ..view.heatmap import DEFAULT_OPACITY
from ..view.zoomable_view import ZoomableView


def _qimage_rgb32(words: np.ndarray) -> QImage:
    """A Qt-owned copy (the numpy buffer may be freed) in the raster engine's own format: no conversion."""
    words = np.ascontiguousarray(words, dtype=np.uint32)
    height, width = words.shape
    return QImage(words.data, width, height, words.strides[0], QImage.Format.Format_RGB32).copy()


class MapPane(ZoomableView):
    pixelHovered = Signal(str)  # "x 12, y 40 · attention 0.83", "" outside the image

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name  # "base" or "defended"
        self._overlay = QGraphicsPixmapItem()
        self._overlay.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay.setOpacity(DEFAULT_OPACITY)
        self._overlay.setZValue(1)
        self.scene().addItem(self._overlay)
        self._map: np.ndarray | None = None
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setToolTip("Wheel: zoom both maps · left-drag: pan both")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """The same for every pane, whatever its scene: a graphics view's own hint follows its scene's size, which
        gave the Grad-CAM row a third of the height of the gate row below it; the layout's stretch shares the
        room out instead."""
        return QSize(240, 240)

    # State --------------------------------------------------------------------------------------------------------

    @property
    def map_values(self) -> np.ndarray | None:
        """The H×W attention map shown (float32 in [0, 1]), None when there is none."""
        return self._map

    @property
    def overlay_opacity(self) -> float:
        return self._overlay.opacity()

    @property
    def overlay_visible(self) -> bool:
        return self._overlay.isVisible() and self._map is not None

    def set_map(self, values: np.ndarray | None, overlay: np.ndarray | None) -> None:
        """Show the map ``values`` with its coloured ``overlay`` (uint32 0xFFRRGGBB from ``heatmap.overlay_pixels``,
        possibly smaller than the image: it is scaled to cover it)."""
        self._map = values
        self._overlay.setPixmap(QPixmap() if overlay is None else QPixmap.fromImage(_qimage_rgb32(overlay)))
        self._scale_overlay()

    def set_opacity(self, opacity: float) -> None:
        self._overlay.setOpacity(min(1.0, max(0.0, opacity)))

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay.setVisible(visible)

    def set_image(self, pixmap: QPixmap) -> None:
        self.set_pixmap(pixmap)
        self._scale_overlay()

    def composite(self) -> np.ndarray:
        """What the pane draws, at the image's own resolution: H×W×3 uint8 (for tests and screenshots)."""
        width, height = self.image_size()
        image = QImage(max(1, width), max(1, height), QImage.Format.Format_RGB888)
        image.fill(Qt.GlobalColor.black)
        painter = QPainter(image)
        self.scene().render(painter, QRectF(0, 0, width, height), QRectF(0, 0, width, height))
        painter.end()
        bits = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return bits[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()

    def _scale_overlay(self) -> None:
        """Stretch the (possibly smaller) overlay over the whole image."""
        overlay, (width, height) = self._overlay.pixmap(), self.image_size()
        if overlay.isNull() or not width or not height:
            self._overlay.resetTransform()
            return
        self._overlay.setTransform(QTransform.fromScale(width / overlay.width(), height / overlay.height()))

    # Events ---------------------------------------------------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        super().mouseMoveEvent(event)
        self.pixelHovered.emit(self._describe(self.mapToScene(event.position().toPoint())))

    def leaveEvent(self, event) -> None:  # noqa: ANN001, N802 - QEvent
        self.pixelHovered.emit("")
        super().leaveEvent(event)

    def _describe(self, point: QPointF) -> str:
        if self._map is None:
            return ""
        col, row = math.floor(point.x()), math.floor(point.y())
        rows, cols = self._map.shape
        if not (0 <= row < rows and 0 <= col < cols):
            return ""
        return f"x {col}, y {row} · {self.name} attention {float(self._map[row, col]):.2f}"


class ViewGroup:
    """Keeps views showing the same region: a zoom or pan in one is copied to the others."""

    def __init__(self, views: list[ZoomableView]) -> None:
        self.views = views
        self._syncing = False
        for view in views:
            view.viewChanged.connect(lambda v=view: self._follow(v))

    def _follow(self, source: ZoomableView) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            for view in self.views:
                if view is not source:
                    view.follow(source)
        finally:
            self._syncing = False

    def fit(self) -> None:
        self.views[0].fit()

    def zoom_by(self, factor: float) -> None:
        self.views[0].zoom_by(factor)

    def actual_size(self) -> None:
        self.views[0].actual_size()

    def show_region(self, rect: QRectF) -> None:
        self.views[0].show_region(rect)
