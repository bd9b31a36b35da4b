"""Table model of a study's DICOM header, with identifying values masked unless the user shows them.

Masking happens in the model's display text, so the search box (which filters on that text) cannot be used
to probe a hidden patient name either.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from ...imaging import TagRow

HIDDEN_TEXT = "•••••• (hidden)"
# Keyword and value first: they are what a reader scans for; tag numbers and VRs are for the DICOM-literate.
COLUMNS = ("Keyword", "Value", "Tag", "VR")
KEYWORD_COLUMN, VALUE_COLUMN, TAG_COLUMN, VR_COLUMN = range(4)
_IDENTIFIER_COLOUR = QColor("#f0c36a")
_HIDDEN_COLOUR = QColor("#7d8792")

Index = QModelIndex | QPersistentModelIndex


class TagTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:  # noqa: ANN001 - QObject | None
        super().__init__(parent)
        self._rows: list[TagRow] = []
        self._show_identifiers = False

    def set_rows(self, rows: list[TagRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def set_show_identifiers(self, show: bool) -> None:
        if show == self._show_identifiers:
            return
        self.beginResetModel()  # a reset (not dataChanged) so that the filter proxy re-evaluates every row
        self._show_identifiers = show
        self.endResetModel()

    def row_at(self, row: int) -> TagRow:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        hidden = row.identifying and not self._show_identifiers
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == KEYWORD_COLUMN:
                indent = "    " * row.depth + ("↳ " if row.depth else "")
                return indent + row.keyword
            if column == VALUE_COLUMN:
                return HIDDEN_TEXT if hidden else row.value
            if column == TAG_COLUMN:
                return row.tag
            return row.vr
        if role == Qt.ItemDataRole.ForegroundRole and row.identifying:
            return _HIDDEN_COLOUR if hidden else _IDENTIFIER_COLOUR
        return None
