"""Number of noisy copies n: a spin box with the presets 100 / 1,000 / 10,000 / 100,000.

Why presets: n spans four orders of magnitude in practice (a quick look vs. the paper's 10,000 vs. a
high-confidence 100,000), which a spin box alone makes tedious to reach.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSpinBox, QVBoxLayout, QWidget

PRESETS = (100, 1_000, 10_000, 100_000)
MAX_COPIES = 10_000_000  # the engine's limit


class CopiesControl(QWidget):
    valueChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spin = QSpinBox()
        self.spin.setRange(1, MAX_COPIES)
        self.spin.setSingleStep(100)
        self.spin.setGroupSeparatorShown(True)
        self.spin.setKeyboardTracking(False)
        self.spin.setSuffix(" copies")
        self.spin.valueChanged.connect(self.valueChanged)
        buttons = QHBoxLayout()
        buttons.setSpacing(3)
        self.preset_buttons: dict[int, QPushButton] = {}
        for count in PRESETS:
            button = QPushButton(f"{count:,}")
            button.setToolTip(f"n = {count:,}")
            button.setMinimumWidth(10)
            button.clicked.connect(lambda _=False, c=count: self.spin.setValue(c))
            buttons.addWidget(button)
            self.preset_buttons[count] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.spin)
        layout.addLayout(buttons)

    def value(self) -> int:
        return self.spin.value()

    def setValue(self, n: int) -> None:  # noqa: N802 - Qt naming
        self.spin.setValue(n)
