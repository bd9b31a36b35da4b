"""File ▸ Export report…: where to save the PDF and whether to de-identify it.

The proposed file name is made from the pixel hash only (``medrdf-report-<12 hex digits>.pdf``): a source file
name or a patient name in a report's file name would leak through any folder listing, de-identified or not.
The report itself is written by the worker (``jobs.run_report``), with the maps the analysis already computed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

from ...robust import Result

PDF_FILTER = "PDF documents (*.pdf)"


def default_report_name(result: Result) -> str:
    """``medrdf-report-<first 12 hex digits of the pixel SHA-256>.pdf``: nothing that names the patient or file."""
    key = (result.image_sha256 or "")[:12] or "result"
    return f"medrdf-report-{key}.pdf"


def as_pdf_path(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    return path if path.suffix.lower() == ".pdf" else path.with_name(path.name + ".pdf")


class ExportReportDialog(QDialog):
    def __init__(self, result: Result, directory: str | Path, maps_note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.setMinimumWidth(560)
        self.path_edit = QLineEdit(str(Path(directory) / default_report_name(result)))
        self.path_edit.textChanged.connect(self._validate)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.deidentify_check = QCheckBox("De-identify (recommended)")
        self.deidentify_check.setChecked(True)
        explanation = QLabel("Leaves out the patient's name, ID and birth date, the study date, the modality and the "
                             "file name, in the page and in the PDF's metadata; the image is named by a hash of its "
                             "pixels instead.")
        explanation.setObjectName("detailKey")
        explanation.setWordWrap(True)
        note = QLabel(maps_note)
        note.setObjectName("detailKey")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addWidget(QLabel("Save the one-page PDF report of this result to:"))
        layout.addLayout(path_row)
        layout.addSpacing(6)
        layout.addWidget(self.deidentify_check)
        layout.addWidget(explanation)
        layout.addSpacing(6)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self._validate()

    def path(self) -> Path:
        return as_pdf_path(self.path_edit.text())

    def deidentify(self) -> bool:
        return self.deidentify_check.isChecked()

    def _validate(self) -> None:
        ok = bool(self.path_edit.text().strip()) and not self.path().is_dir()
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(ok)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save report", str(self.path()), PDF_FILTER)
        if path:
            self.path_edit.setText(str(as_pdf_path(path)))
