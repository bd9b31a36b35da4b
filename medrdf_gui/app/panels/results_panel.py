"""The analysis panel: Analyze, progress, and the MedRDF result.

Reading order follows the clinical question: the defended diagnosis first (large and plain), then whether to
trust it (ACCEPT / RE-EVALUATE and why), then the undefended model for comparison — with a conspicuous warning
when the two disagree — and only then the evidence (votes, RM gauge, statistics). Every number shown is a field
of the engine's ``Result``; nothing is recomputed here.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ...alerts import BASE_DISAGREEMENT
from ...robust import Result
from ..resources import icon
from ..panels.rm_gauge import RmGauge
from ..panels.run_progress import RunProgress
from ..panels.vote_histogram import VoteHistogram

DETAIL_KEYS = ("RM", "p-value", "Votes n_A / n_B", "n", "p_A lower bound", "Certified L2 radius", "Scope", "Seed",
               "Elapsed", "Device", "Model")


def _caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("sectionCaption")
    return label


def _wrapping(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def _repolish(widget: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def action_button(action: QAction) -> QPushButton:
    """A push button that triggers ``action`` and follows its enabled state and tooltip."""
    button = QPushButton(action.icon(), action.text().replace("&", ""))
    button.clicked.connect(action.trigger)

    def mirror() -> None:
        button.setEnabled(action.isEnabled())
        button.setToolTip(action.toolTip())

    action.changed.connect(mirror)
    mirror()
    return button


def format_p_value(p: float) -> str:
    """Three significant digits; a p-value that underflowed to 0 is shown as the bound it really is."""
    return "< 1e-300" if p == 0 else f"{p:.3g}"


def detail_values(result: Result) -> dict[str, str]:
    """The statistics grid, formatted from the Result's own fields."""
    rule = "accept" if result.rm_verdict == "accept" else "re-evaluate"
    rm = f"{result.rm:.3f}  (threshold {result.rm_threshold:g}; RM rule: {rule})"
    if result.rm_interval is not None:
        rm += f"\nconfidence interval [{result.rm_interval[0]:.2f}, {result.rm_interval[1]:.2f}]"
    drawn = result.n_used or result.n
    copies = f"{drawn:,}" if result.sampling != "adaptive" else f"{drawn:,} of at most {result.n:,} (adaptive)"
    return {
        "RM": rm,
        "p-value": f"{format_p_value(result.p_value)}  (α = {result.settings.get('alpha', float('nan')):g})",
        "Votes n_A / n_B": f"{result.n_a:,} / {result.n_b:,}",
        "n": copies,
        "p_A lower bound": f"{result.pa_lower_bound:.4f}",
        "Certified L2 radius": "—" if result.certified_radius is None else f"{result.certified_radius:.4f}",
        "Scope": result.scope_summary(),
        "Seed": str(result.seed),
        "Elapsed": f"{result.elapsed_s:.2f} s",
        "Device": result.device,
        "Model": result.model.get("name", ""),
    }


def _alert_box(name: str, icon_name: str) -> tuple[QFrame, QLabel]:
    """A framed icon + wrapping text that sits under the verdict (styled by ``QFrame#<name>``); returns both."""
    frame = QFrame()
    frame.setObjectName(name)
    layout = QHBoxLayout(frame)
    symbol = QLabel()
    symbol.setPixmap(icon(icon_name).pixmap(QSize(22, 22)))
    text = _wrapping()
    layout.addWidget(symbol, 0, Qt.AlignmentFlag.AlignTop)
    layout.addWidget(text, 1)
    return frame, text


class ResultsPanel(QScrollArea):
    cancelRequested = Signal()

    def __init__(self, analyze_action: QAction, result_actions: tuple[QAction, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.result: Result | None = None
        self.stale = False
        self._analyze_action = analyze_action
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)

        self.analyze_button = QPushButton(icon("analyze"), "  Analyze")
        self.analyze_button.setObjectName("primaryButton")
        self.analyze_button.setIconSize(QSize(20, 20))
        self.analyze_button.clicked.connect(analyze_action.trigger)
        analyze_action.changed.connect(self._mirror_action)
        self.model_label = _wrapping(name="modelNote")
        self.progress = RunProgress()
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.status_label = _wrapping(name="emptyState")

        self.stale_notice = QFrame()
        self.stale_notice.setObjectName("staleNotice")
        stale_layout = QHBoxLayout(self.stale_notice)
        stale_icon = QLabel()
        stale_icon.setPixmap(icon("warning").pixmap(QSize(18, 18)))
        stale_layout.addWidget(stale_icon)
        stale_layout.addWidget(_wrapping("STALE: the settings or the model changed since this result. "
                                         "Press Analyze to update it."), 1)

        self.result_area = QWidget()
        result_layout = QVBoxLayout(self.result_area)
        result_layout.setContentsMargins(0, 0, 0, 0)
        result_layout.setSpacing(6)
        self.diagnosis_label = _wrapping(name="diagnosis")
        # what the model can tell apart at all (and, out of scope, the vote it still cast): a diagnosis of one of
        # three classes rules out only the other two
        self.scope_label = _wrapping(name="scopeNote")
        self.verdict_badge = QLabel()
        self.verdict_badge.setObjectName("verdictBadge")
        self.verdict_badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reason_label = _wrapping(name="reason")
        verdict_row = QHBoxLayout()
        verdict_row.addWidget(self.verdict_badge, 0, Qt.AlignmentFlag.AlignTop)
        verdict_row.addWidget(self.reason_label, 1)

        # One box per alert (alerts.py) under the verdict: red for a possible adversarial input, amber otherwise.
        self.alerts_area = QWidget()
        self.alerts_layout = QVBoxLayout(self.alerts_area)
        self.alerts_layout.setContentsMargins(0, 0, 0, 0)
        self.alerts_layout.setSpacing(4)
        self.alert_boxes: list[tuple[QFrame, QLabel]] = []
        # the model's measured protection: a standing fact beside every verdict, not an alert
        self.protection_label = _wrapping(name="protectionNotice")

        result_buttons = QHBoxLayout()
        result_buttons.setSpacing(6)
        self.result_buttons = [action_button(action) for action in result_actions]
        for button in self.result_buttons:
            result_buttons.addWidget(button)
        result_buttons.addStretch(1)

        self.base_label = _wrapping(name="baseModel")
        self.histogram = VoteHistogram()
        self.gauge = RmGauge()
        details = QGridLayout()
        details.setHorizontalSpacing(10)
        details.setVerticalSpacing(2)
        self.detail_labels: dict[str, QLabel] = {}
        for row, key in enumerate(DETAIL_KEYS):
            key_label = QLabel(key)
            key_label.setObjectName("detailKey")
            value_label = _wrapping(name="detailValue")
            value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            details.addWidget(key_label, row, 0, Qt.AlignmentFlag.AlignTop)
            details.addWidget(value_label, row, 1)
            self.detail_labels[key] = value_label
        details.setColumnStretch(1, 1)
        self.notes_label = _wrapping(name="detailKey")

        result_layout.addSpacing(6)
        result_layout.addWidget(_caption("MedRDF diagnosis"))
        result_layout.addWidget(self.diagnosis_label)
        result_layout.addWidget(self.scope_label)
        result_layout.addLayout(verdict_row)
        result_layout.addWidget(self.alerts_area)
        result_layout.addWidget(self.protection_label)
        result_layout.addLayout(result_buttons)
        result_layout.addSpacing(4)
        result_layout.addWidget(_caption("Base model (undefended)"))
        result_layout.addWidget(self.base_label)
        result_layout.addSpacing(4)
        result_layout.addWidget(_caption("Votes of the noisy copies"))
        result_layout.addWidget(self.histogram)
        result_layout.addWidget(_caption("Robust Metric"))
        result_layout.addWidget(self.gauge)
        result_layout.addWidget(_caption("Statistics"))
        result_layout.addLayout(details)
        result_layout.addWidget(self.notes_label)

        layout.addWidget(self.analyze_button)
        layout.addWidget(self.model_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.stale_notice)
        layout.addWidget(self.result_area)
        layout.addStretch(1)
        self.setWidget(body)
        self._mirror_action()
        self.clear("Open an image and press Analyze.")

    # States -------------------------------------------------------------------------------------------------------

    def clear(self, message: str) -> None:
        """No result: show ``message`` instead (what to do next, or why there is nothing)."""
        self.result = None
        self.stale = False
        self.progress.stop()
        self.result_area.setVisible(False)
        self.stale_notice.setVisible(False)
        self.histogram.clear_votes()
        self.gauge.set_values(None, None, None)
        self.set_status(message)

    def set_status(self, message: str) -> None:
        self.status_label.setText(message)
        self.status_label.setVisible(bool(message))

    def show_running(self) -> None:
        self.progress.start()
        self.set_status("")

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.update_progress(done, total, text)

    def show_cancelled(self) -> None:
        self.clear("Analysis cancelled; no result.")

    def show_error(self, message: str) -> None:
        self.clear(f"The analysis did not finish: {message}")

    def show_result(self, result: Result) -> None:
        self.progress.stop()
        self.set_status("")
        self.result = result
        self.diagnosis_label.setText(result.headline())
        self.diagnosis_label.setProperty("outOfScope", result.out_of_scope)
        self.scope_label.setText(result.scope_note())
        accept = result.verdict == "accept"
        self.verdict_badge.setText("ACCEPT" if accept else "RE-EVALUATE")
        self.verdict_badge.setProperty("verdict", result.verdict)
        self.reason_label.setText(result.reason())

        base_name = result.display(result.base_diagnosis)
        confidence = result.base_probabilities.get(result.base_diagnosis, 0.0)
        self.base_label.setText(f"{base_name} · {100 * confidence:.1f} % confidence")
        self._show_alerts(result)
        self.protection_label.setText(result.protection or "")
        self.protection_label.setVisible(bool(result.protection))

        labels = {name: result.display(name) for name in result.counts}
        self.histogram.show_votes(result.counts, labels, result.diagnosis)
        self.gauge.set_values(result.rm, result.rm_threshold, result.num_classes)
        for key, text in detail_values(result).items():
            self.detail_labels[key].setText(text)
        notes = result.notes
        self.notes_label.setText("\n".join(f"Note: {note}" for note in notes))
        self.notes_label.setVisible(bool(notes))
        self.result_area.setVisible(True)
        self.set_stale(False)

    def _show_alerts(self, result: Result) -> None:
        for frame, _ in self.alert_boxes:
            self.alerts_layout.removeWidget(frame)
            frame.deleteLater()
        self.alert_boxes = []
        for alert in result.alerts:
            red = alert.code == BASE_DISAGREEMENT
            frame, label = _alert_box("disagreement" if red else "caution", "error" if red else "warning")
            frame.setProperty("alertCode", alert.code)
            label.setText(f"<b>{html.escape(alert.title)}.</b> {html.escape(alert.message)}")
            self.alerts_layout.addWidget(frame)
            self.alert_boxes.append((frame, label))
        self.alerts_area.setVisible(bool(self.alert_boxes))

    def set_stale(self, stale: bool) -> None:
        """Mark the shown result as out of date (settings or model changed since it was computed)."""
        self.stale = stale and self.result is not None
        self.stale_notice.setVisible(self.stale)
        for widget in (self.diagnosis_label, self.verdict_badge):
            widget.setProperty("stale", self.stale)
            _repolish(widget)
        self.gauge.set_stale(self.stale)

    def set_model_note(self, text: str, untrained: bool) -> None:
        """Which model will run; an untrained test model is flagged in amber so no one mistakes its output."""
        self.model_label.setText(text)
        self.model_label.setVisible(bool(text))
        self.model_label.setProperty("untrained", untrained)
        _repolish(self.model_label)

    def _mirror_action(self) -> None:
        self.analyze_button.setEnabled(self._analyze_action.isEnabled())
        self.analyze_button.setToolTip(self._analyze_action.toolTip())
