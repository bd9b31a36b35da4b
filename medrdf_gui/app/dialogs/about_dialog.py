"""Help ▸ About: version, runtime versions, installed models, component licences and training data.

The facts come from :mod:`medrdf_gui.about` (no Qt), so the dialog, ``--version`` and a bundle's self-test agree.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QTabWidget, QTextBrowser,
                               QVBoxLayout, QWidget)

from ... import about
from ..resources import icon

MODEL_COLUMNS = ("Model", "Version", "Date", "SHA-256", "Test accuracy", "Measured protection")


def _label(text: str, name: str = "", wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setWordWrap(True)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    header = table.horizontalHeader()
    for c in range(len(headers)):
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)
    table.resizeRowsToContents()
    return table


def _data_html() -> str:
    parts = []
    for data in about.DATASETS:
        cites = "".join(f"<li>{escape(c)}</li>" for c in data.citations)
        parts.append(f"<h4>{escape(data.name)}</h4><p><i>Used for:</i> {escape(data.used_for)}<br>"
                     f"<i>Terms:</i> {escape(data.terms)}</p><p>Please cite:</p><ul>{cites}</ul>")
    return "".join(parts)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, models_directory: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {about.APP_NAME}")
        self.resize(760, 560)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._general(), "About")
        self.models = about.model_rows(models_directory)
        self.models_table = _table(MODEL_COLUMNS, [(m.name, m.version, m.created, f"{m.sha256}…", m.test_accuracy,
                                                    m.protection)
                                                   for m in self.models])
        models_page = QWidget()
        models_layout = QVBoxLayout(models_page)
        models_layout.addWidget(_label("Installed models, from their cards (SHA-256: first 12 hex digits of the "
                                       "weights' hash, checked at every load).", "detailKey"))
        models_layout.addWidget(self.models_table if self.models else _label("No model installed.", "emptyState"), 1)
        self.tabs.addTab(models_page, "Models")
        self.components_table = _table(("Component", "Version", "Licence"),
                                       [(r.name, r.version, r.licence) for r in about.component_rows()])
        self.tabs.addTab(self.components_table, "Licences")
        self.data_text = QTextBrowser()
        self.data_text.setHtml(_data_html())
        self.tabs.addTab(self.data_text, "Training data")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        copy = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setToolTip("Copy versions, models and licences as text (for a bug report)")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(about.about_text(models_directory)))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    def _general(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(10)
        title_row = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(QSize(48, 48)))
        self.title_label = _label(about.version_line(), "welcomeTitle", wrap=False)
        title_row.addWidget(logo)
        title_row.addWidget(self.title_label, 1)
        layout.addLayout(title_row)
        layout.addWidget(_label(about.SUMMARY))
        layout.addWidget(_label(about.DISCLAIMER, "disclaimer"))
        layout.addSpacing(6)
        versions = QGroupBox("Versions")
        form = QFormLayout(versions)
        self.version_labels: dict[str, QLabel] = {}
        for name, version in about.runtime_versions().items():
            self.version_labels[name] = _label(version, "detailValue", wrap=False)
            form.addRow(f"{name}:", self.version_labels[name])
        layout.addWidget(versions)
        layout.addWidget(_label(f"Licence: {about.APP_LICENCE}. The components keep their own licences (see "
                                "Licences); the models' training data its own terms (see Training data).", "detailKey"))
        layout.addStretch(1)
        return page
