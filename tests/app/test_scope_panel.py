"""The results panel on the scope check: what the model can tell apart, and an out-of-scope image shown as such
instead of as a diagnosis."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtGui import QAction

from medrdf_gui.alerts import OUT_OF_SCOPE, Alert
from medrdf_gui.app.panels.results_panel import ResultsPanel
from medrdf_gui.robust import robust_predict


def test_panel_says_what_the_model_distinguishes_and_when_an_image_is_out_of_scope(qtbot, tiny_model,
                                                                                     cxr_png: Path) -> None:
    panel = ResultsPanel(QAction("Analyze"))
    qtbot.addWidget(panel)
    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=50, seed=0, device="cpu")
    result.display_names = {"covid": "COVID-19", "normal": "Normal", "viral_pneumonia": "Viral pneumonia"}
    panel.show_result(result)
    assert panel.diagnosis_label.text() == result.display(result.diagnosis)
    assert panel.scope_label.text() == "This model distinguishes COVID-19, normal and viral pneumonia only."
    assert panel.detail_labels["Scope"].text() == "not checked (no scope statistics in the model card)"

    outside = dataclasses.replace(result, out_of_scope=True, ood_score=812.0, ood_threshold=9.27,
                                  alerts=[Alert(OUT_OF_SCOPE, "This image does not resemble …")])
    panel.show_result(outside)
    assert panel.diagnosis_label.text() == "Outside the model's scope"
    assert panel.diagnosis_label.property("outOfScope") is True
    vote = result.display(result.diagnosis)
    assert panel.scope_label.text().startswith(f"Vote, not meaningful for this image: {vote}.")
    assert panel.verdict_badge.text() == "RE-EVALUATE"
    assert [f.property("alertCode") for f, _ in panel.alert_boxes] == [OUT_OF_SCOPE]
    assert panel.detail_labels["Scope"].text() == "OUT OF SCOPE: score 812 > threshold 9.27"
