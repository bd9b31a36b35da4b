"""Help ▸ About and ``medrdf-gui --version``: version, runtime versions, installed models, licences, data terms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QPushButton

from medrdf_gui import __version__, about
from medrdf_gui.app.dialogs.about_dialog import AboutDialog
from medrdf_gui.app.main import main
from medrdf_gui.app.main_window import MainWindow
from medrdf_gui.modelzoo.testing import write_untrained_model


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two installed models, one with a recorded test accuracy, one without (an untrained test model)."""
    folder = tmp_path / "models"
    write_untrained_model(folder, name="alpha-untrained", size=32)
    card_path = write_untrained_model(folder, name="beta", size=32, seed=1)
    card = json.loads(card_path.read_text())
    card.update(metrics={"test": {"accuracy": 0.9375}}, created="2026-11-25", version="2")
    card_path.write_text(json.dumps(card))
    monkeypatch.setenv("MEDRDF_MODELS_DIR", str(folder))
    return folder


def _cells(table) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_about_dialog_shows_version_models_licences_and_data(qtbot, models_dir: Path) -> None:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert dialog.title_label.text() == f"MedRDF Viewer {__version__}"
    for name in ("Python", "PyTorch", "PySide6", "pydicom"):
        assert dialog.version_labels[name].text() == about.runtime_versions()[name] != "not installed"
    rows = _cells(dialog.models_table)
    sha = {p.stem: json.loads(p.read_text())["sha256"][:12] for p in models_dir.glob("*.json")}
    assert rows == [["alpha-untrained", "1", "—", f"{sha['alpha-untrained']}…", "not recorded", "robustness not measured"],
                    ["beta", "2", "2026-11-25", f"{sha['beta']}…", "93.8 %", "robustness not measured"]]
    components = {row[0]: row for row in _cells(dialog.components_table)}
    assert components["PySide6 (Qt for Python)"][2].startswith("LGPL-3.0")
    assert components["pydicom"][1:] == [about.distribution_version("pydicom"), "MIT"]
    assert "Apache-2.0" in components["safetensors"][2] and "MIT-CMU" in components["Pillow"][2]
    data = dialog.data_text.toPlainText()
    for needle in ("COVID-19 Radiography Database", "Chowdhury", "Rahman", "HAM10000", "CC BY-NC 4.0",
                   "CC BY-NC-SA 4.0", "DermaMNIST"):
        assert needle in data
    assert "not a medical device" in about.DISCLAIMER
    copy = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Copy details")
    copy.click()
    assert QApplication.clipboard().text() == about.about_text()


def test_help_about_opens_the_dialog_without_blocking(qtbot, window) -> None:
    window.actions.about.trigger()
    dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, AboutDialog) and w.isVisible()]
    assert len(dialogs) == 1 and dialogs[0].parent() is window
    dialogs[0].close()


def test_stated_licences_match_the_installed_packages_metadata() -> None:
    for component in about.COMPONENTS:
        if about.distribution_version(component.distributions) is None:
            continue
        declared = about.declared_licence(component.distributions)
        assert component.keyword in declared, (component.name, declared)


def test_about_text_is_available_without_qt(models_dir: Path) -> None:
    text = about.about_text()
    assert text.startswith(f"MedRDF Viewer {__version__}")
    assert "not a medical device" in text and "beta (version 2, 2026-11-25)" in text and "93.8 %" in text


def test_version_flag_prints_and_opens_no_window(capsys) -> None:
    before = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)] if QApplication.instance() else []
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"MedRDF Viewer {__version__}"
    after = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)] if QApplication.instance() else []
    assert after == before
