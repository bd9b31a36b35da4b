"""Menus whose items change at run time: File ▸ Open recent and Settings ▸ Model (rebuilt each time they open)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from .app_settings import AppSettings
from .panels.model_selector import ModelSelector


class RecentFilesMenu(QMenu):
    """The persisted recent files that still exist, newest first, and "Clear recent files"."""

    fileChosen = Signal(str)
    cleared = Signal()

    def __init__(self, app_settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__("Open &recent", parent)
        self._app_settings = app_settings
        self.aboutToShow.connect(self.refresh)

    @Slot()
    def refresh(self) -> None:
        self.clear()
        files = [f for f in self._app_settings.recent_files() if Path(f).exists()]
        for text in files:
            action = self.addAction(Path(text).name)
            action.setToolTip(text)
            action.triggered.connect(lambda _=False, t=text: self.fileChosen.emit(t))
        if not files:
            self.addAction("No recent files").setEnabled(False)
        self.addSeparator()
        self.addAction("Clear recent files", self._clear)

    def _clear(self) -> None:
        self._app_settings.clear_recent_files()
        self.cleared.emit()


class ModelMenu(QMenu):
    """The models the selector offers, the current one checked, then the fixed model actions."""

    def __init__(self, selector: ModelSelector, fixed_actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__("&Model", parent)
        self._selector = selector
        self._fixed_actions = fixed_actions
        self.aboutToShow.connect(self.refresh)

    @Slot()
    def refresh(self) -> None:
        self.clear()
        current = self._selector.reference()
        entries = self._selector.entries()
        for label, reference in entries:
            action = self.addAction(label)
            action.setCheckable(True)
            action.setChecked(reference == current)
            action.triggered.connect(lambda _=False, r=reference: self._selector.set_reference(r))
        if not entries:
            self.addAction("No model installed").setEnabled(False)
        self.addSeparator()
        self.addActions(self._fixed_actions)
