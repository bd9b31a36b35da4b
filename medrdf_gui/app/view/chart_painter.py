"""Shared set-up for the small QPainter charts of the results panel (vote histogram, RM gauge)."""

from __future__ import annotations

from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import QWidget


def chart_painter(widget: QWidget) -> tuple[QPainter, QFont]:
    """An antialiased painter on ``widget`` with the chart font: the widget's font one point smaller (≥ 7 pt)."""
    painter = QPainter(widget)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont(widget.font())
    font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
    painter.setFont(font)
    return painter, font
