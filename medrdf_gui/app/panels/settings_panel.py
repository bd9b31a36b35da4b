"""The analysis settings: every field of ``RobustSettings`` plus the model, with inline validation.

The panel only edits values; ``RobustSettings.validate()`` decides what is valid, and its sentence is shown
under the form (and Analyze is disabled) rather than re-implementing the engine's rules here.
"""

from __future__ import annotations

import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from ...explain import DEFAULT_COPIES
from ...robust import RobustSettings, SettingsError, available_devices, default_threshold
from ...robust.backends import LABELS, installed, native_bf16
from ...robust.device import describe_device
from ...robust.settings import APP_DEFAULTS, SAMPLING
from ...robust.validation import best_validated, defence_caution, envelope_text
from ..app_settings import MAX_GRADCAM_COPIES
from ..panels.copies_control import CopiesControl
from ..panels.model_selector import ModelSelector
from ..resources import icon
from ..panels.sigma_control import SigmaControl

NOISE_LABELS = {"salt-pepper": "Salt & pepper", "gaussian": "Gaussian", "poisson": "Poisson",
                "resize-pad": "Random resize + pad (Xie et al.)", "rotate": "Random rotation (TABLE X)"}
DENOISER_LABELS = {"median": "Median filter", "gaussian": "Gaussian filter", "none": "None"}
SAMPLING_LABELS = {"fixed": "Fixed n", "adaptive": "Adaptive (stop once settled, n is the cap)"}
MAX_SEED = 2**31 - 1  # what a QSpinBox holds; the engine accepts larger seeds from the CLI
# Each denoiser's own size when first chosen: a 3×3 median (the paper's MF) and a 1 px gaussian (the GS rows of
# docs/robustness.md). One number cannot serve both: 3 means a light median but a heavy 3 px blur.
DEFAULT_DENOISER_SIZE = {"median": 3.0, "gaussian": 1.0}


def device_label(name: str) -> str:
    """``"CPU"`` or ``"GPU cuda:0 (NVIDIA H100 …)"`` for the device combo box."""
    if name == "cpu":
        return "CPU"
    try:
        return f"GPU {describe_device(torch.device(name))}"
    except Exception:  # noqa: BLE001 - a driver hiccup must not stop the settings panel from opening
        return f"GPU {name}"


def backend_choices() -> dict[str, str]:
    """``"backend/precision"`` → label, for what this machine can run (bf16 only on a CPU with native bf16)."""
    choices = {"auto/fp32": "Automatic (fastest available, fp32)"}
    for backend in ("torch", "onnxruntime", "openvino"):
        if installed(backend):
            for precision in ("fp32", "bf16") if backend != "onnxruntime" and native_bf16() else ("fp32",):
                choices[f"{backend}/{precision}"] = f"{LABELS[backend]} {precision}"
    return choices


def _combo(labels: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for value, label in labels.items():
        box.addItem(label, value)
    return box


def _select(box: QComboBox, value: object) -> bool:
    index = box.findData(value)
    if index >= 0:
        box.setCurrentIndex(index)
    return index >= 0


class SettingsPanel(QScrollArea):
    settingsChanged = Signal()  # any robust setting changed (valid or not)
    modelChanged = Signal()
    gradcamCopiesChanged = Signal(int)

    def __init__(self, custom_cards: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self._updating = False
        self._shown = APP_DEFAULTS  # carries fields this panel has no widget for through a round trip
        # the size last shown for each denoiser, so that switching back and forth keeps each one's own value
        self._denoiser_size = dict(DEFAULT_DENOISER_SIZE)
        self._size_shown_for = self._shown.denoiser
        self._build(custom_cards)
        self._connect()
        self.set_settings(APP_DEFAULTS)

    # Layout -------------------------------------------------------------------------------------------------------

    def _build(self, custom_cards: list[str] | None) -> None:
        self.model_selector = ModelSelector(custom_cards)
        self.noise = _combo(NOISE_LABELS)
        self.sigma = SigmaControl()
        self.copies = CopiesControl()
        self.sampling = _combo({key: SAMPLING_LABELS.get(key, key) for key in SAMPLING})
        self.sampling.setToolTip("Adaptive sampling stops drawing copies once the verdict is statistically "
                                 "settled (time-uniform confidence sequences); n is then the maximum")
        self.n0 = QSpinBox()
        self.n0.setRange(1, 1_000_000)
        self.n0.setGroupSeparatorShown(True)
        self.n0.setToolTip("Selection draw of Cohen et al.'s CERTIFY, used with gaussian noise only")
        self.fixed_seed = QCheckBox("Fixed")
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.denoiser = _combo(DENOISER_LABELS)
        self.kernel = QDoubleSpinBox()
        self.kernel_label = QLabel("Window size:")
        self.alpha = QDoubleSpinBox()
        self.alpha.setDecimals(5)
        self.alpha.setRange(0.00001, 0.5)
        self.alpha.setSingleStep(0.001)
        self.default_threshold = QCheckBox()
        self.threshold = QDoubleSpinBox()
        self.threshold.setDecimals(2)
        self.threshold.setSingleStep(0.1)
        self.device = QComboBox()
        self.device.addItem("Automatic (GPU if available)", "auto")
        for name in available_devices():
            self.device.addItem(device_label(name), name)
        self.backend = _combo(backend_choices())
        self.backend.setToolTip("The library that classifies the vote's copies on the CPU. Automatic: the fastest "
                                "installed (OpenVINO, ONNX Runtime, then PyTorch), all giving PyTorch's fp32 "
                                "results. bf16 (only on a CPU with native bf16) is faster but changes a few "
                                "copies' labels. On a GPU the vote runs in PyTorch.")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.gradcam_copies = QSpinBox()
        self.gradcam_copies.setRange(1, MAX_GRADCAM_COPIES)
        self.gradcam_copies.setValue(DEFAULT_COPIES)
        self.gradcam_copies.setSuffix(" copies")
        self.gradcam_copies.setToolTip("Noisy, denoised copies averaged for the defended Grad-CAM map (computed "
                                       "after the vote; more copies: a smoother map, a longer wait)")
        self.error_label = QLabel()
        self.error_label.setObjectName("settingsError")
        self.error_label.setWordWrap(True)
        self.caution_label = QLabel()  # settings valid but not validated for this model (robust/validation.py)
        self.caution_label.setObjectName("settingsCaution")
        self.caution_label.setWordWrap(True)
        self.caution_label.setVisible(False)
        self.envelope_label = QLabel()  # what the chosen setting buys under attack, from the card (the envelope)
        self.envelope_label.setObjectName("settingsEnvelope")
        self.envelope_label.setWordWrap(True)
        self.envelope_label.setToolTip("Measured with `medrdf evaluate` on test images (docs/robustness.md): the "
                                       "largest attack budget ε up to which every measured budget kept at least "
                                       "80 % of diagnoses when each image met its worst attack")
        self.use_validated_button = QPushButton("Use the validated setting")
        self.use_validated_button.setToolTip("Noise, σ, denoiser and its size as measured for this model; n, α and "
                                             "the rest stay as they are")
        self.use_validated_button.setVisible(False)
        self.reset_button = QPushButton(icon("reset"), "Reset to paper defaults")

        model_box = QGroupBox("Model")
        QVBoxLayout(model_box).addWidget(self.model_selector)

        seed_row = QHBoxLayout()
        seed_row.addWidget(self.fixed_seed)
        seed_row.addWidget(self.seed, 1)
        noise_box = QGroupBox("Noise and voting")
        noise_form = QFormLayout(noise_box)
        noise_form.addRow("Noise:", self.noise)
        noise_form.addRow("σ:", self.sigma)
        noise_form.addRow("n:", self.copies)
        noise_form.addRow("Sampling:", self.sampling)
        noise_form.addRow("n₀:", self.n0)
        noise_form.addRow("Seed:", seed_row)

        denoise_box = QGroupBox("Denoiser")
        denoise_form = QFormLayout(denoise_box)
        denoise_form.addRow("Filter:", self.denoiser)
        denoise_form.addRow(self.kernel_label, self.kernel)

        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.default_threshold)
        threshold_row.addWidget(self.threshold, 1)
        decision_box = QGroupBox("Decision")
        decision_form = QFormLayout(decision_box)
        decision_form.addRow("α:", self.alpha)
        decision_form.addRow("RM threshold:", threshold_row)

        compute_box = QGroupBox("Compute")
        compute_form = QFormLayout(compute_box)
        compute_form.addRow("Device:", self.device)
        compute_form.addRow("Backend:", self.backend)
        compute_form.addRow("Batch size:", self.batch_size)

        maps_box = QGroupBox("Attention maps")
        maps_form = QFormLayout(maps_box)
        maps_form.addRow("Grad-CAM copies m:", self.gradcam_copies)

        stale_note = QLabel("A changed setting marks the shown result as stale; press Analyze to update it.")
        stale_note.setObjectName("detailKey")
        stale_note.setWordWrap(True)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        for box in (model_box, noise_box, denoise_box):
            layout.addWidget(box)
        # right under the noise and denoiser it is about, where it is seen without scrolling
        layout.addWidget(self.caution_label)
        layout.addWidget(self.use_validated_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.envelope_label)
        for box in (decision_box, compute_box, maps_box):
            layout.addWidget(box)
        layout.addWidget(self.error_label)
        layout.addWidget(stale_note)
        layout.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self.setWidget(body)

    def _connect(self) -> None:
        for signal in (self.noise.currentIndexChanged, self.sigma.valueChanged, self.copies.valueChanged,
                       self.sampling.currentIndexChanged, self.n0.valueChanged, self.fixed_seed.toggled,
                       self.seed.valueChanged,
                       self.denoiser.currentIndexChanged, self.kernel.valueChanged, self.alpha.valueChanged,
                       self.default_threshold.toggled, self.threshold.valueChanged, self.device.currentIndexChanged,
                       self.backend.currentIndexChanged, self.batch_size.valueChanged):
            signal.connect(self._on_edit)
        self.gradcam_copies.valueChanged.connect(self.gradcamCopiesChanged)
        self.model_selector.modelChanged.connect(self._on_model)
        self.reset_button.clicked.connect(self.reset_to_defaults)
        self.use_validated_button.clicked.connect(self.use_validated_setting)

    # Values -------------------------------------------------------------------------------------------------------

    def settings(self) -> RobustSettings:
        """The settings as shown (possibly invalid: see :meth:`validation_error`)."""
        backend, precision = self.backend.currentData().split("/")
        return self._shown.with_(
            noise=self.noise.currentData(),
            sigma=self.sigma.value(),
            denoiser=self.denoiser.currentData(),
            kernel=self._kernel_value(),
            n=self.copies.value(),
            n0=self.n0.value(),
            alpha=round(self.alpha.value(), 5),
            threshold=None if self.default_threshold.isChecked() else round(self.threshold.value(), 2),
            batch_size=self.batch_size.value(),
            seed=self.seed.value() if self.fixed_seed.isChecked() else None,
            device=self.device.currentData(),
            sampling=self.sampling.currentData(),
            backend=backend,
            precision=precision,
        )

    def validation_error(self) -> str | None:
        try:
            self.settings().validate()
        except SettingsError as exc:
            return str(exc)
        return None

    def set_settings(self, settings: RobustSettings) -> None:
        """Show ``settings`` (values a widget cannot hold fall back to that widget's nearest / default)."""
        self._updating = True
        self._shown = settings
        try:
            _select(self.noise, settings.noise)
            _select(self.sampling, settings.sampling)
            self.sigma.setValue(settings.sigma)
            self.copies.setValue(settings.n)
            self.n0.setValue(settings.n0)
            self.fixed_seed.setChecked(settings.seed is not None)
            self.seed.setValue(min(settings.seed or 0, MAX_SEED))
            _select(self.denoiser, settings.denoiser)
            if settings.denoiser in self._denoiser_size:
                self._denoiser_size[settings.denoiser] = float(settings.kernel)
            self._configure_kernel()
            self.kernel.setValue(float(settings.kernel))
            self.alpha.setValue(settings.alpha)
            self.default_threshold.setChecked(settings.threshold is None)
            if settings.threshold is not None:
                self.threshold.setValue(settings.threshold)
            if not _select(self.device, settings.device):
                _select(self.device, "auto")
            if not _select(self.backend, f"{settings.backend}/{settings.precision}"):
                _select(self.backend, "auto/fp32")
            self.batch_size.setValue(settings.batch_size)
        finally:
            self._updating = False
        self._on_edit()

    @Slot()
    def reset_to_defaults(self) -> None:
        """The paper's defaults (``RobustSettings()``: fixed n, m = 32 Grad-CAM copies); the model choice is kept."""
        self.set_settings(RobustSettings())
        self.gradcam_copies.setValue(DEFAULT_COPIES)

    def model_reference(self) -> str | None:
        return self.model_selector.reference()

    def set_model_reference(self, reference: str | None) -> bool:
        return self.model_selector.set_reference(reference)

    def num_classes(self) -> int | None:
        card = self.model_selector.card()
        return card.num_classes if card is not None else None

    # Reactions ----------------------------------------------------------------------------------------------------

    @Slot()
    def _on_edit(self, *_: object) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._configure_kernel()
            self.n0.setEnabled(self.noise.currentData() == "gaussian")
            self.seed.setEnabled(self.fixed_seed.isChecked())
            self._configure_threshold()
        finally:
            self._updating = False
        error = self.validation_error()
        self.error_label.setText(error or "")
        self.error_label.setVisible(error is not None)
        self._show_caution()
        self.settingsChanged.emit()

    def _show_caution(self) -> None:
        """Warn before a run, not only in its result, when the chosen defence was not validated for the model."""
        caution = None
        card = self.model_selector.card()
        if card is not None and self.validation_error() is None:
            caution = defence_caution(card, self.settings())
        self.caution_label.setText(f"⚠ {caution}" if caution else "")
        self.caution_label.setVisible(caution is not None)
        self.use_validated_button.setVisible(caution is not None and best_validated(card) is not None)
        envelope = None
        if card is not None and self.validation_error() is None:
            envelope = envelope_text(card, self.settings()) or "Not measured under attack for this model."
        self.envelope_label.setText(f"Under attack: {envelope[0].lower()}{envelope[1:]}" if envelope else "")
        self.envelope_label.setVisible(envelope is not None)

    @Slot()
    def use_validated_setting(self) -> None:
        """Apply the model's best validated noise and denoiser (robust/validation.py), keeping everything else."""
        entry = best_validated(self.model_selector.card())
        if entry is not None:
            self.set_settings(self.settings().with_(noise=entry["noise"], sigma=float(entry["sigma"]),
                                                    denoiser=entry["denoiser"], kernel=entry["kernel"]))

    @Slot()
    def _on_model(self) -> None:
        self._updating = True
        try:
            self._configure_threshold()
        finally:
            self._updating = False
        self._show_caution()
        self.modelChanged.emit()

    def _kernel_value(self) -> float:
        value = round(self.kernel.value(), 2)
        return int(value) if self.denoiser.currentData() == "median" else value

    def _configure_kernel(self) -> None:
        """Median: odd window sizes 1–15. Gaussian: σ in pixels, (0, 10]. None: not used. A switch of denoiser
        keeps the old one's size for later and shows the new one's own."""
        denoiser = self.denoiser.currentData()
        value = self.kernel.value()
        if denoiser != self._size_shown_for:
            if self._size_shown_for in self._denoiser_size:
                self._denoiser_size[self._size_shown_for] = value
            value = self._denoiser_size.get(denoiser, value)
            self._size_shown_for = denoiser
        self.kernel.blockSignals(True)
        if denoiser == "median":
            self.kernel_label.setText("Window size:")
            self.kernel.setDecimals(0)
            self.kernel.setRange(1, 15)
            self.kernel.setSingleStep(2)
            self.kernel.setSuffix(" px")
            odd = int(round(value))
            self.kernel.setValue(odd if odd % 2 else odd + 1)
        else:
            self.kernel_label.setText("σ (pixels):")
            self.kernel.setDecimals(2)
            self.kernel.setRange(0.1, 10.0)
            self.kernel.setSingleStep(0.25)
            self.kernel.setSuffix(" px")
            self.kernel.setValue(value)
        self.kernel.setEnabled(denoiser != "none")
        self.kernel.blockSignals(False)

    def _configure_threshold(self) -> None:
        k = self.num_classes()
        if k is None:
            self.default_threshold.setText("Default (K − 1)/2")
            self.threshold.setRange(0.0, 10.0)
        else:
            self.default_threshold.setText(f"Default {default_threshold(k):g}")
            self.default_threshold.setToolTip(f"(K − 1)/2 for K = {k} classes")
            self.threshold.setRange(0.0, float(k))
            if self.default_threshold.isChecked():
                self.threshold.setValue(default_threshold(k))
        self.threshold.setEnabled(not self.default_threshold.isChecked())
