"""The searchable DICOM tags panel."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableView,
                               QToolButton, QVBoxLayout, QWidget)

from ...imaging import Study
from ..panels.tags_model import KEYWORD_COLUMN, TAG_COLUMN, VALUE_COLUMN, VR_COLUMN, TagTableModel


class TagsPanel(QWidget):
    def __init__(self, identifiers_action: QAction | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TagTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)  # match tag, keyword, VR or (shown) value
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tags, keywords, values…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.search.textChanged.connect(lambda _: self._update_count())

        header = QHBoxLayout()
        header.addWidget(self.search, 1)
        if identifiers_action is not None:
            toggle = QToolButton()
            toggle.setDefaultAction(identifiers_action)
            toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            header.addWidget(toggle)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        columns = self.table.horizontalHeader()
        columns.setSectionResizeMode(KEYWORD_COLUMN, QHeaderView.ResizeMode.Interactive)
        columns.setSectionResizeMode(VALUE_COLUMN, QHeaderView.ResizeMode.Interactive)
        columns.setSectionResizeMode(TAG_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        columns.setSectionResizeMode(VR_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(KEYWORD_COLUMN, 150)
        self.table.setColumnWidth(VALUE_COLUMN, 170)

        self.count_label = QLabel()
        self.count_label.setObjectName("detailKey")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        self.set_study(None)

    def set_study(self, study: Study | None) -> None:
        rows = study.tags if study is not None else []
        self.model.set_rows(rows)
        if study is not None and study.source_format != "dicom":
            self.count_label.setText(f"{study.source_format.upper()} file: no DICOM header.")
        else:
            self._update_count()

    def set_show_identifiers(self, show: bool) -> None:
        self.model.set_show_identifiers(show)
        self._update_count()

    def visible_values(self) -> list[tuple[str, str]]:
        """(keyword, value) of the rows the filter lets through, as displayed (for tests)."""
        rows = []
        for r in range(self.proxy.rowCount()):
            keyword = self.proxy.index(r, KEYWORD_COLUMN).data().strip().lstrip("↳ ")
            rows.append((keyword, self.proxy.index(r, VALUE_COLUMN).data()))
        return rows

    def _update_count(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        if total == 0:
            self.count_label.setText("No DICOM header.")
        else:
            self.count_label.setText(f"{shown} of {total} elements" if shown != total else f"{total} elements")
