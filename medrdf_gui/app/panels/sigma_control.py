"""Noise level σ: a slider for quick exploration and a spin box for the exact value, kept in step."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QSlider, QWidget

_SLIDER_STEPS = 1000  # σ resolution on the slider: 0.001


class SigmaControl(QWidget):
    valueChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, _SLIDER_STEPS)
        self.slider.setPageStep(50)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        self.spin.setKeyboardTracking(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        return round(self.spin.value(), 3)

    def setValue(self, sigma: float) -> None:  # noqa: N802 - Qt naming, like the widgets it wraps
        self.spin.setValue(sigma)

    @Slot(int)
    def _from_slider(self, steps: int) -> None:
        sigma = steps / _SLIDER_STEPS
        if abs(sigma - self.spin.value()) >= 0.5 / _SLIDER_STEPS:
            self.spin.setValue(sigma)

    @Slot(float)
    def _from_spin(self, sigma: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(sigma * _SLIDER_STEPS))
        self.slider.blockSignals(False)
        self.valueChanged.emit(self.value())
