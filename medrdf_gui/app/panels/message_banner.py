"""Non-modal message banners: loader warnings, load errors, analysis failures, "no model installed".

Why banners instead of message boxes: a modal box blocks the whole viewer (and automated tests) over something
the user may want to read while still looking at the image; a banner stays visible until dismissed or until
the situation it describes is gone.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ..resources import icon

SEVERITIES = ("info", "warning", "error")


class MessageBanner(QFrame):
    """One message with a severity icon and a close button."""

    dismissed = Signal()

    def __init__(self, text: str, severity: str = "info", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        self.setObjectName("banner")
        self.setProperty("severity", severity)
        self.severity = severity
        icon_label = QLabel()
        icon_label.setPixmap(icon(severity).pixmap(QSize(18, 18)))
        icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setIcon(icon("close"))
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self._dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 5, 4, 5)
        layout.addWidget(icon_label)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    @property
    def text(self) -> str:
        return self.label.text()

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
        self.deleteLater()


class BannerArea(QWidget):
    """A stack of banners grouped by topic, so that e.g. opening a new study clears only the study's messages."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 0)
        self._layout.setSpacing(4)
        self._banners: dict[str, list[MessageBanner]] = {}
        self.setVisible(False)

    def add(self, topic: str, text: str, severity: str = "info") -> MessageBanner:
        banner = MessageBanner(text, severity, self)
        banner.dismissed.connect(lambda b=banner, t=topic: self._forget(t, b))
        self._banners.setdefault(topic, []).append(banner)
        self._layout.addWidget(banner)
        self.setVisible(True)
        return banner

    def clear(self, topic: str | None = None) -> None:
        """Remove the banners of ``topic`` (all topics when None)."""
        topics = list(self._banners) if topic is None else [topic]
        for name in topics:
            for banner in self._banners.pop(name, []):
                banner.hide()
                banner.deleteLater()
        self.setVisible(any(self._banners.values()))

    def messages(self, topic: str | None = None) -> list[tuple[str, str]]:
        """(severity, text) of the banners shown, optionally of one topic."""
        topics = list(self._banners) if topic is None else [topic]
        return [(b.severity, b.text) for name in topics for b in self._banners.get(name, [])]

    def _forget(self, topic: str, banner: MessageBanner) -> None:
        items = self._banners.get(topic, [])
        if banner in items:
            items.remove(banner)
        self.setVisible(any(self._banners.values()))
