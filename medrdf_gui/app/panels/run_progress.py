"""Progress of a running analysis: copies done / total, time left, and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..resources import icon


class RunProgress(QWidget):
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.label = QLabel()
        self.label.setObjectName("detailKey")
        self.cancel_button = QPushButton(icon("cancel"), "Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.label)
        self.setVisible(False)

    def start(self, text: str = "Loading and verifying the model…") -> None:
        self.bar.setRange(0, 0)  # busy until the first batch reports
        self.label.setText(text)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.setVisible(True)

    def update_progress(self, done: int, total: int, text: str) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.bar.setFormat(f"{100 * done // max(1, total)} %")
        self.label.setText(text)

    def stop(self) -> None:
        self.setVisible(False)

    def _on_cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.label.setText("Cancelling at the end of the current batch…")
        self.cancelRequested.emit()
