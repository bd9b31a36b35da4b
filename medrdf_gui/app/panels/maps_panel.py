"""The "Attention maps" page: base and defended Grad-CAM side by side over the image, in two synced panes, and
below them, for an attention-gated network (AG-Sononet), its own gates' attention, shown as the network computed it.

Controls: the class the maps explain (default: each model's own class, the pair of the paper's Fig. 3), overlay
on/off, overlay opacity, and the colour legend. Maps for another class are computed by the worker, never here:
the panel asks for them with ``classRequested`` and keeps every map it received, so switching back is instant.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QSlider,
                               QStackedWidget, QVBoxLayout, QWidget)

from ...robust import Result
from ..view.heatmap import DEFAULT_OPACITY, legend_gradient
from ..analysis.jobs import MapsOutcome
from ..view.map_pane import MapPane, ViewGroup
from ..view.qimage_conversion import qimage_from_bytes
from ..panels.run_progress import RunProgress

DEFAULT_TARGET_TEXT = "As diagnosed (each model's class)"
EMPTY_TEXT = ("No attention maps yet.\n\nPress Analyze: after the vote, the Grad-CAM maps of the base model and of "
              "the MedRDF-defended model appear here, side by side over the image.")
_EMPTY, _MAPS = 0, 1
GATE_PANES = 2  # AG-Sononet's gates (on layer3 and layer4); a network without gates shows none


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    return label


class ColorLegend(QWidget):
    """"0 [jet gradient] 1" with a caption: what the overlay colours mean."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        strip = QLabel()
        strip.setPixmap(QPixmap.fromImage(qimage_from_bytes(legend_gradient(256))).scaled(
            QSize(140, 12), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation))
        strip.setToolTip("Grad-CAM attention, each map scaled to its own maximum: 0 = no evidence for the class, "
                         "1 = the strongest evidence in this image")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(_label("Grad-CAM attention:  low", "detailKey"))
        layout.addWidget(strip)
        layout.addWidget(_label("high  (each map scaled to its own maximum)", "detailKey"))


class MapsPanel(QWidget):
    classRequested = Signal(str)  # maps for this class are not there yet: compute them in the worker
    cancelRequested = Signal()
    pixelHovered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: Result | None = None
        self.shown: MapsOutcome | None = None
        self._cache: dict[str | None, MapsOutcome] = {}
        self._build()
        self.clear()

    # Layout -------------------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Which class the maps explain; another class is computed in the background")
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(len(DEFAULT_TARGET_TEXT))
        self.class_combo.activated.connect(self._on_class_chosen)
        self.overlay_check = QCheckBox("Overlay")
        self.overlay_check.setChecked(True)
        self.overlay_check.setToolTip("Show the colour map over the image (M)")
        self.overlay_check.setShortcut("M")
        self.overlay_check.toggled.connect(self._apply_overlay)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(100 * DEFAULT_OPACITY))
        self.opacity_slider.setFixedWidth(120)
        self.opacity_slider.setToolTip("Opacity of the colour map (50 % is the report's blend)")
        self.opacity_label = _label("", "detailKey")
        self.opacity_label.setMinimumWidth(36)
        self.opacity_slider.valueChanged.connect(self._apply_overlay)

        controls = QFrame()
        controls.setObjectName("mapsControls")
        row = QHBoxLayout(controls)
        row.setContentsMargins(10, 6, 10, 6)
        row.setSpacing(8)
        row.addWidget(_label("Class:"))
        row.addWidget(self.class_combo)
        row.addSpacing(12)
        row.addWidget(self.overlay_check)
        row.addSpacing(6)
        row.addWidget(_label("Opacity"))
        row.addWidget(self.opacity_slider)
        row.addWidget(self.opacity_label)
        row.addStretch(1)

        self.base_pane, self.defended_pane = MapPane("base"), MapPane("defended")
        self.gate_panes = [MapPane("gate") for _ in range(GATE_PANES)]
        self.group = ViewGroup(self.all_panes)
        self.base_title, self.defended_title = _label("", "paneTitle"), _label("", "paneTitle")
        self.base_note, self.defended_note = _label("", "paneSubtitle"), _label("", "paneSubtitle")
        self.gate_titles = [_label("", "paneTitle") for _ in range(GATE_PANES)]
        self.gate_note = _label("The network's own attention gates: the same for every class, each coefficient in "
                                "[0, 1] as computed (not scaled to its maximum)", "paneSubtitle")
        self.gates_row = QWidget()  # hidden unless the model has attention gates
        gates_grid = self._pane_grid(self.gates_row, [(title, None, pane) for title, pane in zip(self.gate_titles,
                                                                                                   self.gate_panes)])
        gates_grid.addWidget(self.gate_note, 1, 0, 1, GATE_PANES)
        self.gate_note.setWordWrap(True)
        gradcam_row = QWidget()
        self._pane_grid(gradcam_row, [(self.base_title, self.base_note, self.base_pane),
                                      (self.defended_title, self.defended_note, self.defended_pane)])
        panes = QWidget()
        rows = QVBoxLayout(panes)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(0)
        rows.addWidget(gradcam_row, 1)
        rows.addWidget(self.gates_row, 1)

        self.empty_label = _label(EMPTY_TEXT, "emptyState")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setMargin(40)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(panes)

        self.progress = RunProgress()
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.legend = ColorLegend()
        footer = QHBoxLayout()
        footer.setContentsMargins(10, 4, 10, 4)
        footer.addWidget(self.progress, 1)
        footer.addStretch(0)
        footer.addWidget(self.legend, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(controls)
        layout.addWidget(self.stack, 1)
        layout.addLayout(footer)
        self._apply_overlay()

    def _pane_grid(self, row: QWidget, columns: list[tuple[QLabel, QLabel | None, MapPane]]) -> QGridLayout:
        """Side by side: each pane under its title (and note)."""
        grid = QGridLayout(row)
        grid.setContentsMargins(0, 4, 0, 0)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(0)
        for column, (title, note, pane) in enumerate(columns):
            grid.addWidget(title, 0, column)
            if note is not None:
                note.setWordWrap(True)
                grid.addWidget(note, 1, column)
            grid.addWidget(pane, 2, column)
            grid.setColumnStretch(column, 1)
            pane.pixelHovered.connect(self.pixelHovered)
        grid.setRowStretch(2, 1)
        return grid

    @property
    def all_panes(self) -> list[MapPane]:
        return [self.base_pane, self.defended_pane, *self.gate_panes]

    # States -------------------------------------------------------------------------------------------------------

    def clear(self, message: str = EMPTY_TEXT) -> None:
        """No maps (no result, a new image, a cancelled or failed run): say why, offer nothing to choose."""
        self.result, self.shown = None, None
        self._cache.clear()
        for pane in self.all_panes:
            pane.set_map(None, None)
        self.gates_row.hide()
        self.class_combo.clear()
        self.class_combo.setEnabled(False)
        self.progress.stop()
        self.empty_label.setText(message)
        self.stack.setCurrentIndex(_EMPTY)

    def show_computing(self) -> None:
        self.clear("Computing… the maps follow the vote (see the progress in the MedRDF analysis panel).")

    def set_result(self, result: Result) -> None:
        """The result whose maps come next; fills the class selector."""
        self.clear("Computing the attention maps…")
        self.result = result
        self.class_combo.addItem(DEFAULT_TARGET_TEXT, "")  # "" stands for None: Qt has no None item data
        for name in result.classes:
            self.class_combo.addItem(result.display(name), name)

    def show_maps(self, outcome: MapsOutcome) -> None:
        self._cache[outcome.target] = outcome
        self.shown = outcome
        maps = outcome.maps
        self.base_pane.set_map(maps.base, outcome.base_overlay)
        self.defended_pane.set_map(maps.defended, outcome.defended_overlay)
        display = self.result.display if self.result is not None else str
        self.base_title.setText(f"Base model (undefended) · {display(maps.base_class)}")
        self.base_note.setText("Grad-CAM on the clean image")
        self.defended_title.setText(f"MedRDF (defended) · {display(maps.defended_class)}")
        self.defended_note.setText(f"Mean Grad-CAM of m = {maps.copies} noisy, denoised copies")
        self._show_gates(outcome)
        self._select(outcome.target)
        self.set_busy(False)
        self.stack.setCurrentIndex(_MAPS)

    def _show_gates(self, outcome: MapsOutcome) -> None:
        names = list(outcome.maps.gates)[:GATE_PANES]
        for index, (title, pane) in enumerate(zip(self.gate_titles, self.gate_panes)):
            name = names[index] if index < len(names) else None
            pane.set_map(outcome.maps.gates.get(name), outcome.gate_overlays.get(name))
            title.setText(f"Attention gate on {name}" if name else "")
            pane.setVisible(name is not None)
            title.setVisible(name is not None)
        self.gates_row.setVisible(bool(names))
        for pane in self.gate_panes[:len(names)]:  # may have been hidden: show the region the Grad-CAM panes show
            pane.follow(self.base_pane)

    def show_error(self, message: str) -> None:
        """The result stands but its maps could not be computed."""
        self.set_busy(False)
        if self.shown is None:
            self.empty_label.setText(f"The attention maps could not be computed: {message}")
            self.stack.setCurrentIndex(_EMPTY)
        self._select(self.shown.target if self.shown else None)

    def set_busy(self, busy: bool, target: str | None = None) -> None:
        """A class's maps are being computed: the selector waits, the progress and Cancel show."""
        self.class_combo.setEnabled(not busy and self.result is not None)
        if busy:
            name = self.result.display(target) if self.result is not None and target else "the chosen class"
            self.progress.start(f"Computing the maps for {name}…")
        else:
            self.progress.stop()

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.update_progress(done, total, text)

    def cancelled(self) -> None:
        """A class's maps were cancelled: the maps shown before stay, and so does their class in the selector."""
        self.set_busy(False)
        self._select(self.shown.target if self.shown else None)

    def set_image(self, pixmap: QPixmap) -> None:
        for pane in self.all_panes:
            pane.set_image(pixmap)

    def show_region(self, rect: QRectF | None) -> None:
        """Show this image region (the main view's); None: fit the whole image."""
        self.group.fit() if rect is None else self.group.show_region(rect)

    def default_maps(self) -> MapsOutcome | None:
        """The maps of the paper's Fig. 3 (each model's own class): what the report shows."""
        return self._cache.get(None)

    # Reactions ----------------------------------------------------------------------------------------------------

    @Slot(int)
    def _on_class_chosen(self, index: int) -> None:
        target = self.class_combo.itemData(index) or None
        if target in self._cache:
            self.show_maps(self._cache[target])
        elif target is not None:
            self.set_busy(True, target)
            self.classRequested.emit(target)

    def _select(self, target: str | None) -> None:
        index = self.class_combo.findData(target or "")
        if index >= 0:
            self.class_combo.setCurrentIndex(index)

    @Slot()
    def _apply_overlay(self) -> None:
        opacity = self.opacity_slider.value() / 100.0
        self.opacity_label.setText(f"{self.opacity_slider.value()} %")
        self.opacity_slider.setEnabled(self.overlay_check.isChecked())
        for pane in self.all_panes:
            pane.set_opacity(opacity)
            pane.set_overlay_visible(self.overlay_check.isChecked())
