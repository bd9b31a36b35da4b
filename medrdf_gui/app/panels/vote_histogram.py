"""The vote histogram: how many of the n noisy copies voted for each class.

Drawn with QPainter rather than matplotlib: a constrained-layout matplotlib redraw took 30–50 ms of the GUI
thread each time a result arrived or the panel was resized, a large share of issue 5's 100 ms budget; these
bars cost well under a millisecond and stay crisp at any size.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..view.chart_painter import chart_painter

_TEXT = QColor("#c2cbd4")
_AXIS = QColor("#56606b")
_BAR = QColor("#5b7ea6")
_WINNER = QColor("#4caf50")
_ROW = 26.0  # pixels per class
_AXIS_HEIGHT = 30.0  # ticks and "votes" below the bars


def compact_count(value: float) -> str:
    """Axis labels that stay short at n = 100,000: 25k, 50k …"""
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def nice_step(maximum: float, ticks: int = 4) -> float:
    """A 1-2-5 step that splits [0, maximum] into about ``ticks`` intervals."""
    raw = max(maximum, 1.0) / ticks
    magnitude = 10 ** len(str(int(raw))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return max(1.0, factor * magnitude)
    return 10 * magnitude


class VoteHistogram(QWidget):
    """Horizontal bars, one per class, the winning class highlighted; the numbers are the engine's counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts: dict[str, int] = {}
        self.labels: dict[str, str] = {}
        self.winner: str | None = None
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(360, int(max(3, len(self.counts)) * _ROW + _AXIS_HEIGHT + 12))

    def clear_votes(self) -> None:
        self.counts, self.labels, self.winner = {}, {}, None
        self.updateGeometry()
        self.update()

    def show_votes(self, counts: dict[str, int], labels: dict[str, str], winner: str | None) -> None:
        """``counts`` per class name; ``labels`` the names to show; ``winner`` highlighted (None if abstained)."""
        self.counts, self.labels, self.winner = dict(counts), dict(labels), winner
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter, font = chart_painter(self)
        metrics = QFontMetricsF(font)
        painter.setPen(_TEXT)
        if not self.counts:
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, "No votes yet")
            return
        names = list(self.counts)
        label_width = max(metrics.horizontalAdvance(self.labels.get(n, n)) for n in names) + 10
        total = max(1, sum(self.counts.values()))
        value_room = metrics.horizontalAdvance(f"{total:,}") + 8
        plot = QRectF(label_width, 4, max(20.0, self.width() - label_width - value_room - 6), len(names) * _ROW)
        scale = plot.width() / total
        for row, name in enumerate(names):
            top = plot.top() + row * _ROW
            label_box = QRectF(0, top, label_width - 8, _ROW)
            painter.setPen(_TEXT)
            painter.drawText(label_box, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             self.labels.get(name, name))
            value = self.counts[name]
            bar = QRectF(plot.left(), top + _ROW * 0.18, value * scale, _ROW * 0.64)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_WINNER if name == self.winner else _BAR)
            painter.drawRect(bar)
            painter.setPen(_TEXT)
            painter.drawText(QRectF(bar.right() + 4, top, value_room, _ROW), Qt.AlignmentFlag.AlignVCenter,
                             f"{value:,}")
        # Axis: the left spine, the bottom line with 1-2-5 ticks, and the unit.
        painter.setPen(QPen(_AXIS, 1))
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        step = nice_step(total)
        tick = 0.0
        while tick <= total + 1e-9:
            x = plot.left() + tick * scale
            painter.setPen(QPen(_AXIS, 1))
            painter.drawLine(int(x), int(plot.bottom()), int(x), int(plot.bottom() + 4))
            painter.setPen(_TEXT)
            painter.drawText(QRectF(x - 30, plot.bottom() + 4, 60, 14), Qt.AlignmentFlag.AlignCenter,
                             compact_count(tick))
            tick += step
        painter.drawText(QRectF(plot.left(), plot.bottom() + 16, plot.width(), 14), Qt.AlignmentFlag.AlignCenter,
                         "votes")
