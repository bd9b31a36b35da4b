"""The Robust Metric gauge: RM on its scale from 0 to K (n_A ≥ n_B, so never negative), with the accept threshold
marked.

Why a gauge and not only the number: how far RM sits above or below the threshold is the whole message of the
flag, and a position on a scale reads faster than two decimals compared in the head.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..view.chart_painter import chart_painter

_TRACK = QColor("#39424d")
_BELOW = QColor("#f0a202")  # re-evaluate side
_ABOVE = QColor("#2e7d32")  # accept side
_TEXT = QColor("#c2cbd4")
_MARKER = QColor("#ffffff")
_STALE = QColor("#6f7983")


class RmGauge(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k: int | None = None
        self.rm: float | None = None
        self.threshold: float | None = None
        self.stale = False
        self.setMinimumHeight(64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Robust Metric RM = K·(n_A − n_B)/n on [0, K]; the mark is the accept threshold")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 64)

    def set_values(self, rm: float | None, threshold: float | None, k: int | None) -> None:
        self.rm, self.threshold, self.k = rm, threshold, k
        self.update()

    def set_stale(self, stale: bool) -> None:
        self.stale = stale
        self.update()

    def value_to_x(self, value: float, track: QRectF) -> float:
        k = float(self.k or 1)
        fraction = min(max(value, 0.0), k) / k
        return track.left() + fraction * track.width()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter, font = chart_painter(self)
        track = QRectF(14, 20, self.width() - 28, 10)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_TRACK)
        painter.drawRoundedRect(track, 4, 4)
        if self.k is None or self.threshold is None:
            painter.setPen(_TEXT)
            painter.drawText(QRectF(0, 34, self.width(), 20), Qt.AlignmentFlag.AlignCenter,
                             "RM appears after an analysis")
            return
        split = self.value_to_x(self.threshold, track)
        painter.setBrush(_STALE if self.stale else _BELOW)
        painter.drawRoundedRect(QRectF(track.left(), track.top(), split - track.left(), track.height()), 4, 4)
        painter.setBrush(_STALE if self.stale else _ABOVE)
        painter.drawRoundedRect(QRectF(split, track.top(), track.right() - split, track.height()), 4, 4)
        # Threshold tick and label above the track.
        painter.setPen(QPen(_MARKER, 2))
        painter.drawLine(QPointF(split, track.top() - 5), QPointF(split, track.bottom() + 5))
        painter.setPen(_TEXT)
        painter.drawText(QRectF(split - 60, 0, 120, 16), Qt.AlignmentFlag.AlignCenter, f"threshold {self.threshold:g}")
        # Below the track: the RM marker with its value, and the scale ends 0 and K where they do not collide.
        label_top = track.bottom() + 13
        rm_x = self.value_to_x(self.rm, track) if self.rm is not None else None
        for value in (0, self.k):
            x = self.value_to_x(value, track)
            if rm_x is None or abs(x - rm_x) > 44:
                painter.drawText(QRectF(x - 20, label_top, 40, 16), Qt.AlignmentFlag.AlignCenter, f"{value:g}")
        if rm_x is not None:
            marker = QPolygonF([QPointF(rm_x, track.bottom() + 1), QPointF(rm_x - 7, track.bottom() + 12),
                                QPointF(rm_x + 7, track.bottom() + 12)])
            painter.setPen(QPen(QColor("#111111"), 1))
            painter.setBrush(_MARKER)
            painter.drawPolygon(marker)
            painter.drawRect(QRectF(rm_x - 1.5, track.top() - 2, 3, track.height() + 4))
            bold = QFont(font)
            bold.setBold(True)
            painter.setFont(bold)
            painter.setPen(_MARKER)
            box = QRectF(rm_x - 40, label_top, 80, 16)
            box.moveLeft(min(max(box.left(), 0), self.width() - box.width()))  # keep the label inside the widget
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, f"RM {self.rm:.2f}")
