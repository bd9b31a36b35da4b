"""Study information: what the image is (modality, size, bit depth, compression) and, only on request, who.

Identifying fields come from ``Study.identifiers`` — the same list the reports and logs de-identify with — and
stay hidden until the user turns on "Show identifiers" (off at every start, never persisted), so a screenshot
or a screen share of the viewer is de-identified by default.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QScrollArea, QToolButton, QVBoxLayout, QWidget

from ...imaging import Study


_ZERO_WIDTH_SPACE = "\u200b"


def breakable(text: str) -> str:
    """Allow line breaks after _ . - / so long file names and UIDs wrap instead of widening the panel."""
    return re.sub(r"([_./\\-])", "\\1" + _ZERO_WIDTH_SPACE, text)


def _value_label(text: str) -> QLabel:
    label = QLabel(breakable(text))
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def describe_study(study: Study) -> list[tuple[str, str]]:
    """Non-identifying facts about a study, in reading order."""
    rows_, cols = study.shape
    facts = [
        ("File", study.path.name),
        ("Format", study.source_format.upper()),
        ("Modality", study.modality + (f" · {study.body_part}" if study.body_part else "")),
        ("Photometric", study.photometric),
        ("Size", f"{cols} × {rows_} pixels"),
        ("Bits stored", str(study.bits_stored)),
    ]
    if study.pixel_spacing:
        facts.append(("Pixel spacing", f"{study.pixel_spacing[0]:g} × {study.pixel_spacing[1]:g} mm"))
    if study.frame_count > 1:
        facts.append(("Frame", f"{study.frame_index + 1} of {study.frame_count}"))
    if study.transfer_syntax:
        facts.append(("Transfer syntax", study.transfer_syntax))
    if study.sop_class:
        facts.append(("SOP class", study.sop_class))
    return facts


class StudyInfoPanel(QScrollArea):
    def __init__(self, identifiers_action: QAction | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)

        self._image_box = QGroupBox("Image")
        self._image_form = QFormLayout(self._image_box)
        self._image_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self._identity_box = QGroupBox("Patient and study")
        self._identity_form = QFormLayout(self._identity_box)
        self._identity_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)

        layout.addWidget(self._image_box)
        layout.addWidget(self._identity_box)
        if identifiers_action is not None:
            toggle = QToolButton()
            toggle.setDefaultAction(identifiers_action)
            toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            layout.addWidget(toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self.setWidget(body)

        self._study: Study | None = None
        self._show_identifiers = False
        self.set_study(None)

    def set_study(self, study: Study | None) -> None:
        self._study = study
        self._refresh()

    def set_show_identifiers(self, show: bool) -> None:
        self._show_identifiers = show
        self._refresh()

    def shown_text(self) -> str:
        """All text the panel displays (for tests that check nothing identifying leaks)."""
        texts = []
        for box, form in ((self._image_box, self._image_form), (self._identity_box, self._identity_form)):
            if box.isHidden():
                continue
            for index in range(form.count()):
                widget = form.itemAt(index).widget()
                if isinstance(widget, QLabel):
                    texts.append(widget.text().replace(_ZERO_WIDTH_SPACE, ""))
        return "\n".join(texts)

    def _refresh(self) -> None:
        for form in (self._image_form, self._identity_form):
            while form.rowCount():
                form.removeRow(0)
        study = self._study
        if study is None:
            self._image_form.addRow(_value_label("No image open."))
            self._identity_box.setVisible(False)
            return
        for key, value in describe_study(study):
            self._image_form.addRow(f"{key}:", _value_label(value))
        self._identity_box.setVisible(True)
        identifiers = study.identifiers
        if not identifiers:
            self._identity_form.addRow(_value_label("No identifying fields in this file."))
        elif not self._show_identifiers:
            count = len(identifiers)
            self._identity_form.addRow(_value_label(
                f"{count} identifying field{'s' if count != 1 else ''} hidden. "
                "Turn on “Show identifiers” to see them."))
        else:
            for key, value in identifiers.items():
                self._identity_form.addRow(f"{key}:", _value_label(value))
