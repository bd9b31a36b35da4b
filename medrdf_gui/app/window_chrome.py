"""The main window's toolbar and menus, assembled from its actions (construction only, no behaviour)."""

from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMenu, QToolBar, QToolButton, QWidget

from .actions import ViewerActions
from .view.window_preset_box import WindowPresetBox

MenuItem = QAction | QMenu | None  # None: a separator


def fill_menu(menu: QMenu, items: Iterable[MenuItem]) -> QMenu:
    for item in items:
        if item is None:
            menu.addSeparator()
        elif isinstance(item, QMenu):
            menu.addMenu(item)
        else:
            menu.addAction(item)
    return menu


def build_toolbar(a: ViewerActions) -> tuple[QToolBar, WindowPresetBox]:
    """File, navigation, zoom, window preset, invert/reset, Analyze and Cancel (those two with their text)."""
    bar = QToolBar("Main toolbar")
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    for action in (a.open_file, a.open_folder, None, a.previous_study, a.next_study, None,
                   a.zoom_in, a.zoom_out, a.fit, a.actual_size, None):
        bar.addAction(action) if action else bar.addSeparator()
    preset_box = WindowPresetBox()
    bar.addWidget(QLabel(" Window "))
    bar.addWidget(preset_box)
    for action in (a.invert, a.reset_view, None, a.analyze, a.cancel):
        bar.addAction(action) if action else bar.addSeparator()
    for action in (a.analyze, a.cancel):
        button: QWidget | None = bar.widgetForAction(action)
        if isinstance(button, QToolButton):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return bar, preset_box
