"""Model choice: the shipped models (``modelzoo.available_cards()``) plus any card file the user loads.

Only the card (a small JSON file) is read here, to show what the model is and how many classes it has; the
weights are loaded and verified by the worker at analysis time, off the GUI thread. When no model is installed
the selector says so plainly instead of pretending one exists.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from ...modelzoo import ModelCard, ModelLoadError, available_cards, resolve_card
from ...robust.validation import protection_summary
from ..resources import icon

NO_MODEL_TEXT = "No model installed — choose Settings ▸ Model ▸ Load model card…"


def is_untrained(card: ModelCard) -> bool:
    return "untrained" in card.description.lower() or "untrained" in card.name.lower()


def describe_card(card: ModelCard) -> str:
    """One line on what the model is; untrained test models are called exactly that."""
    h, w = card.input_size
    text = f"{card.num_classes} classes · {card.architecture} · input {w}×{h}"
    accuracy = card.metrics.get("test", {}).get("accuracy") if isinstance(card.metrics.get("test"), dict) else None
    if isinstance(accuracy, (int, float)):
        text += f" · test accuracy {100 * accuracy:.1f} %"
    text += f" · {protection_summary(card)}"
    if is_untrained(card):
        text = "UNTRAINED test model (random weights): its outputs mean nothing. " + text
    return text


class ModelSelector(QWidget):
    modelChanged = Signal()
    problem = Signal(str)  # a card file that cannot be used, as a sentence

    def __init__(self, custom_cards: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.load_button = QPushButton(icon("model"), "Load model card…")
        self.load_button.clicked.connect(self.choose_card_file)
        self.note = QLabel()
        self.note.setObjectName("modelNote")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.note)
        layout.addWidget(self.load_button, 0, Qt.AlignmentFlag.AlignLeft)
        self._cards: list[ModelCard] = []  # parallel to the combo's entries
        self._references: list[str] = []
        self._custom_paths: list[str] = []
        for path in custom_cards or []:
            self._add_custom(path, quiet=True)
        self.combo.currentIndexChanged.connect(self._on_index)
        self.refresh()

    # Queries --------------------------------------------------------------------------------------------------

    def reference(self) -> str | None:
        """Shipped model name or card path of the chosen model; None when no model is available."""
        index = self.combo.currentIndex()
        return self._references[index] if 0 <= index < len(self._references) else None

    def card(self) -> ModelCard | None:
        index = self.combo.currentIndex()
        return self._cards[index] if 0 <= index < len(self._cards) else None

    def entries(self) -> list[tuple[str, str]]:
        """(label, reference) of every choice, for the Settings ▸ Model menu."""
        return [(self.combo.itemText(i), ref) for i, ref in enumerate(self._references)]

    def custom_cards(self) -> list[str]:
        return list(self._custom_paths)

    # Changes --------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-list the shipped models (e.g. after a model was trained and installed), keeping the choice."""
        previous = self.reference()
        self.combo.blockSignals(True)
        self.combo.clear()
        self._cards, self._references = [], []
        for card in available_cards():
            self._append(card.name, card, card.name)
        for path in self._custom_paths:
            try:
                card = resolve_card(path)
            except ModelLoadError:
                continue
            self._append(f"{card.name} (from file)", card, path)
        if not self._references:
            self.combo.addItem("No model installed")
        self.combo.setEnabled(bool(self._references))
        if previous in self._references:
            self.combo.setCurrentIndex(self._references.index(previous))
        self.combo.blockSignals(False)
        self._show_note()
        if self.reference() != previous:
            self.modelChanged.emit()

    def set_reference(self, reference: str | None) -> bool:
        """Select a model by shipped name or card path (a card path not listed yet is loaded). False if unusable."""
        if not reference:
            return False
        if reference not in self._references:
            is_path = reference.endswith(".json") or "/" in reference or "\\" in reference
            return is_path and self.load_card_file(reference, quiet=True)
        self.combo.setCurrentIndex(self._references.index(reference))
        return True

    def load_card_file(self, path: str | Path, quiet: bool = False) -> bool:
        """Add a model card from disk and select it; a bad card is reported through ``problem``."""
        text = str(Path(path).expanduser().resolve())
        if not self._add_custom(text, quiet=quiet):
            return False
        self.refresh()
        if text in self._references:
            self.combo.setCurrentIndex(self._references.index(text))
        return True

    @Slot()
    def choose_card_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model card", str(Path.home()), "Model cards (*.json)")
        if path:
            self.load_card_file(path)

    # Internals ------------------------------------------------------------------------------------------------

    def _add_custom(self, path: str, quiet: bool) -> bool:
        try:
            card = resolve_card(path)
            if not card.weights_path.is_file():
                raise ModelLoadError(
                    f"The weights file {card.weights_path.name} named by {Path(path).name} is missing.")
        except ModelLoadError as exc:
            if not quiet:
                self.problem.emit(str(exc))
            return False
        if path not in self._custom_paths:
            self._custom_paths.append(path)
        return True

    def _append(self, label: str, card: ModelCard, reference: str) -> None:
        self.combo.addItem(icon("model"), label)
        tip = f"{reference}\n{card.description}" if card.description else reference
        self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self._cards.append(card)
        self._references.append(reference)

    def _show_note(self) -> None:
        card = self.card()
        if card is None:
            self.note.setText(NO_MODEL_TEXT)
            self.note.setProperty("untrained", True)
        else:
            self.note.setText(describe_card(card))
            self.note.setProperty("untrained", is_untrained(card))
        self.note.style().unpolish(self.note)
        self.note.style().polish(self.note)

    @Slot(int)
    def _on_index(self, _: int) -> None:
        self._show_note()
        self.modelChanged.emit()
