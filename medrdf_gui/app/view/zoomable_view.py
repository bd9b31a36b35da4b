"""A graphics view of one image: fit, zoom (wheel, buttons), pan (left-drag), and the signals to keep views in step.

The base of the main image view and of the two attention-map panes. Scene coordinates are image pixels in every
one of them, so "the same region" means the same scene rectangle whatever the viewport sizes.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

MIN_ZOOM, MAX_ZOOM = 0.02, 40.0
WHEEL_ZOOM_PER_NOTCH = 1.2


class ZoomableView(QGraphicsView):
    zoomChanged = Signal(float)  # screen pixels per image pixel
    viewChanged = Signal()  # zoom or pan changed (by the user or the code): views that follow this one re-sync

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setBackgroundBrush(QBrush(QColor("#000000")))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setAcceptDrops(False)  # files dropped on the image go to the main window
        self.viewport().setAcceptDrops(False)
        self._fit_mode = True
        self.horizontalScrollBar().valueChanged.connect(self.viewChanged)
        self.verticalScrollBar().valueChanged.connect(self.viewChanged)

    # State --------------------------------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    @property
    def fit_mode(self) -> bool:
        return self._fit_mode

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the shown pixmap, (0, 0) when empty."""
        pixmap = self._item.pixmap()
        return pixmap.width(), pixmap.height()

    def pixmap(self) -> QPixmap:
        return self._item.pixmap()

    def set_pixmap(self, pixmap: QPixmap) -> None:
        """Show ``pixmap``; a new size resets the scene rectangle (and refits in fit mode)."""
        resized = pixmap.size() != self._item.pixmap().size()
        self._item.setPixmap(pixmap)
        if resized:
            self.scene().setSceneRect(QRectF(pixmap.rect()))
            if self._fit_mode:
                self.fit()

    def visible_scene_rect(self) -> QRectF:
        """The image region on screen, in image pixels."""
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def centre(self):  # noqa: ANN201 - QPointF
        return self.mapToScene(self.viewport().rect().center())

    # Zoom ---------------------------------------------------------------------------------------------------------

    def fit(self) -> None:
        """Whole image visible, aspect kept; stays fitted through window resizes until the user zooms."""
        self._fit_mode = True
        if self._item.pixmap().isNull():
            return
        self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
        self._changed()

    def actual_size(self) -> None:
        """One image pixel per screen pixel."""
        self._fit_mode = False
        self.resetTransform()
        self._changed()

    def zoom_by(self, factor: float) -> None:
        if self._item.pixmap().isNull():
            return
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        factor = target / self.zoom
        if math.isclose(factor, 1.0):
            return
        self._fit_mode = False
        self.scale(factor, factor)
        self._changed()

    def zoom_in(self) -> None:
        self.zoom_by(WHEEL_ZOOM_PER_NOTCH)

    def zoom_out(self) -> None:
        self.zoom_by(1.0 / WHEEL_ZOOM_PER_NOTCH)

    def follow(self, other: "ZoomableView") -> None:
        """Show what ``other`` shows: same zoom and centre (fit mode is copied too, so both keep refitting)."""
        if self._item.pixmap().isNull():
            return
        if other.fit_mode:
            self.fit()
            return
        self._fit_mode = False
        self.setTransform(other.transform())
        self.centerOn(other.centre())
        self._changed()

    def show_region(self, rect: QRectF) -> None:
        """Zoom so that ``rect`` (image pixels) fills the viewport, aspect kept."""
        if self._item.pixmap().isNull() or rect.isEmpty():
            return
        self._fit_mode = False
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._changed()

    def _changed(self) -> None:
        self.zoomChanged.emit(self.zoom)
        self.viewChanged.emit()

    # Events ---------------------------------------------------------------------------------------------------------

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        notches = event.angleDelta().y() / 120.0
        if notches:
            self.zoom_by(WHEEL_ZOOM_PER_NOTCH**notches)
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()
