"""Fixtures for the GUI tests: isolated settings and model folders, and windows that always join their threads.

Every test gets its own INI file and an empty models folder, so no test reads the developer's real settings or
depends on whether the trained model has been installed yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from medrdf_gui.app.app_settings import SETTINGS_PATH_ENV, AppSettings
from medrdf_gui.app.main_window import MainWindow
from medrdf_gui.robust import RobustSettings

# Small enough for two CPU cores shared with a training run, large enough for a decisive vote at α = 0.001.
FAST_SETTINGS = RobustSettings(n=200, batch_size=50, seed=0, device="cpu")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_models = tmp_path / "no-models"
    empty_models.mkdir()
    monkeypatch.setenv("MEDRDF_MODELS_DIR", str(empty_models))
    monkeypatch.setenv(SETTINGS_PATH_ENV, str(tmp_path / "env-settings.ini"))


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def make_window(qtbot, settings_path: Path) -> Iterator[Callable[..., MainWindow]]:
    """Factory of shown main windows; each is closed at teardown and its analysis thread must be gone."""
    windows: list[MainWindow] = []

    def make(path: Path | None = None) -> MainWindow:
        window = MainWindow(AppSettings(path or settings_path))
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        assert window.controller.thread is None, "an analysis thread outlived its window"


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


@pytest.fixture
def analysis_window(make_window, tiny_model_card: Path, cxr_png: Path) -> MainWindow:
    """A window showing the COVID PNG with the tiny untrained model and fast settings."""
    win = make_window()
    assert win.settings_panel.model_selector.load_card_file(tiny_model_card)
    win.settings_panel.set_settings(FAST_SETTINGS)
    assert win.open_path(cxr_png)
    return win


class Mouse:
    """Synthetic mouse events (QTest cannot hold the right button down during a move)."""

    @staticmethod
    def send(widget: QWidget, kind: QMouseEvent.Type, pos: QPointF, button: Qt.MouseButton,
             buttons: Qt.MouseButton) -> None:
        event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)

    def hover(self, widget: QWidget, pos: QPointF) -> None:
        self.send(widget, QMouseEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)

    def right_drag(self, widget: QWidget, start: QPointF, end: QPointF, steps: int = 5) -> None:
        right = Qt.MouseButton.RightButton
        self.send(widget, QMouseEvent.Type.MouseButtonPress, start, right, right)
        for i in range(1, steps + 1):
            point = start + (end - start) * (i / steps)
            self.send(widget, QMouseEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, right)
        self.send(widget, QMouseEvent.Type.MouseButtonRelease, end, right, Qt.MouseButton.NoButton)


@pytest.fixture
def mouse() -> Mouse:
    return Mouse()


@pytest.fixture
def fast_settings() -> RobustSettings:
    return FAST_SETTINGS


@pytest.fixture
def finish_run(qtbot) -> Callable[[MainWindow], object]:
    """Analyze and wait until the worker thread has ended (vote and maps); returns the Result."""

    def run(window: MainWindow) -> object:
        with qtbot.waitSignal(window.controller.finished, timeout=30_000) as blocker:
            assert window.analyze()
        qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
        return blocker.args[0]

    return run
