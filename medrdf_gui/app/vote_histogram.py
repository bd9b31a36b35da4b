"""The vote histogram: how many of the n noisy copies voted for each class (matplotlib inside Qt)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyside6")  # tell matplotlib which Qt binding the app uses

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
from PySide6.QtWidgets import QSizePolicy, QWidget  # noqa: E402

_BACKGROUND = "#222a33"
_TEXT = "#c2cbd4"
_BAR = "#5b7ea6"
_WINNER = "#4caf50"


def _compact_count(value: float, _position: int) -> str:
    """Axis labels that stay short at n = 100,000: 25k, 50k …"""
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


class VoteHistogram(FigureCanvasQTAgg):
    """Horizontal bars, one per class, the winning class highlighted; the numbers are the engine's counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        figure = Figure(figsize=(3.6, 1.6), dpi=100, facecolor=_BACKGROUND, layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.axes = figure.add_subplot()
        self.counts: dict[str, int] = {}
        self.clear_votes()

    def clear_votes(self) -> None:
        self.counts = {}
        self.axes.clear()
        self._style()
        self.axes.text(0.5, 0.5, "No votes yet", ha="center", va="center", color=_TEXT, transform=self.axes.transAxes)
        self.axes.set_xticks([])
        self.axes.set_yticks([])
        self.draw_idle()

    def show_votes(self, counts: dict[str, int], labels: dict[str, str], winner: str | None) -> None:
        """``counts`` per class name; ``labels`` the names to show; ``winner`` highlighted (None if abstained)."""
        self.counts = dict(counts)
        names = list(counts)
        values = [counts[name] for name in names]
        self.axes.clear()
        self._style()
        positions = range(len(names))[::-1]  # first class on top
        colours = [_WINNER if name == winner else _BAR for name in names]
        bars = self.axes.barh(list(positions), values, color=colours, height=0.65)
        self.axes.set_yticks(list(positions), [labels.get(name, name) for name in names])
        total = max(1, sum(values))
        self.axes.set_xlim(0, total * 1.22)
        for bar, value in zip(bars, values):
            self.axes.text(bar.get_width() + total * 0.015, bar.get_y() + bar.get_height() / 2,
                           f"{value:,}", va="center", ha="left", color=_TEXT, fontsize=8)
        self.axes.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        self.axes.xaxis.set_major_formatter(FuncFormatter(_compact_count))
        self.axes.set_xlabel("votes", color=_TEXT, fontsize=8)
        self.draw_idle()

    def _style(self) -> None:
        self.axes.set_facecolor(_BACKGROUND)
        for side in ("top", "right"):
            self.axes.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            self.axes.spines[side].set_color("#56606b")
        self.axes.tick_params(colors=_TEXT, labelsize=8)
