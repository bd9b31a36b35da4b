"""The window/level preset chooser: the file's own windows, CT presets for CT, data-driven X-ray presets.

The presets come from the loader (``Study.window_presets``); this box only lists them and mirrors the view's
current window, adding a "Custom" entry while the user drags one of their own.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

from ...imaging import Study, WindowPreset
from ..view.image_view import CUSTOM_WINDOW_NAME

VOI_LUT_LABEL = "File VOI LUT (default)"


def describe_window(window: WindowPreset | None) -> str:
    """``"W 1024 · L 550"`` in modality units ("" for the VOI LUT / colour case)."""
    if window is None:
        return ""
    return f"W {window.width:.6g} · L {window.center:.6g}"


class WindowPresetBox(QComboBox):
    presetChosen = Signal(object)  # WindowPreset | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Window/level preset (right-drag on the image for a custom window)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setMinimumContentsLength(18)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self._presets: list[WindowPreset | None] = []
        self.activated.connect(self._on_activated)
        self.set_study(None)

    def set_study(self, study: Study | None) -> None:
        self.blockSignals(True)
        self.clear()
        self._presets = []
        if study is None or study.is_color:
            self.addItem("Colour image: no window" if study is not None else "No image")
            self._presets.append(None)
            self.setEnabled(False)
        else:
            if study.default_window is None:
                self.addItem(VOI_LUT_LABEL)
                self._presets.append(None)
            for preset in study.window_presets:
                self.addItem(preset.name)
                self._presets.append(preset)
            self.setEnabled(True)
        self.blockSignals(False)

    @Slot(object)
    def show_window(self, window: WindowPreset | None) -> None:
        """Select the entry of the view's current window, adding or updating the "Custom" entry if needed."""
        self.blockSignals(True)
        try:
            if window is not None and window.name == CUSTOM_WINDOW_NAME:
                label = f"{CUSTOM_WINDOW_NAME} ({describe_window(window)})"
                if self._presets and self._presets[-1] is not None and self._presets[-1].name == CUSTOM_WINDOW_NAME:
                    self.setItemText(len(self._presets) - 1, label)
                    self._presets[-1] = window
                else:
                    self.addItem(label)
                    self._presets.append(window)
                self.setCurrentIndex(len(self._presets) - 1)
                return
            for index, preset in enumerate(self._presets):
                if preset == window:
                    self.setCurrentIndex(index)
                    return
        finally:
            self.blockSignals(False)

    def presets(self) -> list[WindowPreset | None]:
        return list(self._presets)

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        if 0 <= index < len(self._presets):
            self.presetChosen.emit(self._presets[index])
