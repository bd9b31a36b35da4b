"""Frame chooser for multi-frame DICOM (hidden for single-frame images)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget


class FrameSelector(QWidget):
    """Slider + spin box, 1-based for the user; emits the 0-based frame index the loader expects."""

    frameRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._spin = QSpinBox()
        self._count_label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(QLabel("Frame"))
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._spin)
        layout.addWidget(self._count_label)
        self._slider.valueChanged.connect(self._spin.setValue)
        self._spin.valueChanged.connect(self._slider.setValue)
        # Loading a frame re-decodes the file: follow the slider only when it is released or stepped.
        self._slider.setTracking(False)
        self._spin.setKeyboardTracking(False)
        self._spin.valueChanged.connect(self._on_value)
        self.set_frames(1, 0)

    @property
    def frame_count(self) -> int:
        return self._spin.maximum()

    @property
    def frame_index(self) -> int:
        return self._spin.value() - 1

    def set_frames(self, count: int, index: int) -> None:
        for widget in (self._slider, self._spin):
            widget.blockSignals(True)
            widget.setRange(1, max(1, count))
            widget.setValue(index + 1)
            widget.blockSignals(False)
        self._count_label.setText(f"of {count}")
        self.setVisible(count > 1)

    def request_frame(self, index: int) -> None:
        """Select frame ``index`` (0-based) as if the user had picked it."""
        self._spin.setValue(index + 1)

    @Slot(int)
    def _on_value(self, value: int) -> None:
        self.frameRequested.emit(value - 1)
