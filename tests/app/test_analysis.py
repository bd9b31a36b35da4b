"""Robust analysis from the GUI: worker thread, progress, results shown, cancel, close, errors, stale results."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from medrdf_gui.alerts import BASE_DISAGREEMENT, UNVALIDATED_SETTING, Alert
from medrdf_gui.app.panels.results_panel import detail_values
from medrdf_gui.modelzoo.testing import write_untrained_model
from medrdf_gui.robust import Result

RUN_TIMEOUT_MS = 30_000
# A run far too long to finish within a test, so it is surely still going when cancelled.
ENDLESS = {"n": 5_000_000, "batch_size": 8}


def run_to_result(qtbot, window) -> Result:
    with qtbot.waitSignal(window.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.analyze()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=5000)
    return blocker.args[0]


def start_endless_run(qtbot, window) -> None:
    window.settings_panel.set_settings(window.settings_panel.settings().with_(**ENDLESS))
    with qtbot.waitSignal(window.controller.progress, timeout=RUN_TIMEOUT_MS):
        assert window.analyze()


def test_result_widgets_show_the_engines_numbers(qtbot, analysis_window) -> None:
    window = analysis_window
    progress = []
    window.controller.progress.connect(lambda done, total, text: progress.append((done, total, text)))
    result = run_to_result(qtbot, window)
    panel = window.results_panel

    assert panel.result is result and not panel.result_area.isHidden()
    assert panel.diagnosis_label.text() == result.display(result.diagnosis)
    assert panel.verdict_badge.text() == ("ACCEPT" if result.verdict == "accept" else "RE-EVALUATE")
    assert panel.verdict_badge.property("verdict") == result.verdict
    assert panel.reason_label.text() == result.reason()
    base_confidence = 100 * result.base_probabilities[result.base_diagnosis]
    assert panel.base_label.text() == f"{result.display(result.base_diagnosis)} · {base_confidence:.1f} % confidence"
    assert [f.property("alertCode") for f, _ in panel.alert_boxes] == [a.code for a in result.alerts]
    assert panel.verdict_badge.text() == ("ACCEPT" if result.verdict == "accept" else "RE-EVALUATE")
    assert panel.histogram.counts == result.counts and sum(result.counts.values()) == result.n == 200
    assert (panel.gauge.rm, panel.gauge.threshold, panel.gauge.k) == (result.rm, result.rm_threshold, 3)
    for key, text in detail_values(result).items():
        assert panel.detail_labels[key].text() == text
    assert panel.detail_labels["p-value"].text().startswith(f"{result.p_value:.3g}")
    assert panel.detail_labels["n"].text() == "200"
    assert result.seed == 0 and result.device.startswith("cpu")
    # Progress reached n / n with copies and time-left text, then continued through the m = 32 Grad-CAM copies.
    votes = [p for p in progress if "copies" in p[2]]
    maps = [p for p in progress if p[2].startswith("Grad-CAM")]
    assert votes and votes[-1][:2] == (200, 200) and "200 / 200 copies" in votes[-1][2]
    assert progress.index(votes[-1]) < progress.index(maps[0])
    assert maps[-1][:2] == (33, 33) and maps[-1][2].startswith("Grad-CAM 32 / 32")
    assert window.actions.analyze.isEnabled() and not window.actions.cancel.isEnabled()


def test_worker_runs_in_another_thread_than_the_gui(qtbot, analysis_window) -> None:
    window = analysis_window
    with qtbot.waitSignal(window.controller.finished, timeout=RUN_TIMEOUT_MS):
        assert window.analyze()
        worker, thread = window.controller.worker, window.controller.thread
        gui_thread = QApplication.instance().thread()
        assert worker.thread() is thread and thread is not gui_thread
    assert worker.thread_ident is not None and worker.thread_ident != threading.get_ident()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=5000)


# Issue 5: while a run goes, the GUI event loop is never blocked for more than this.
MAX_EVENT_LOOP_GAP_S = 0.100
# fixed sampling: the adaptive default (and the fast backend) would stop after a few hundred copies, too short a run
RESPONSIVENESS_RUN = {"n": 10_000, "batch_size": 50, "sampling": "fixed"}  # 1–2.5 s on two busy cores: long enough to matter


def _largest_event_loop_gap(qtbot, window) -> tuple[float, float]:
    """Run one analysis while a 10 ms timer ticks; return (largest gap between ticks, run seconds)."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    phases = set()

    def note_phase(done: int, total: int, text: str) -> None:
        phases.add("maps" if text.startswith("Grad-CAM") else "votes")

    window.controller.progress.connect(note_phase)
    timer.start(10)
    qtbot.wait(50)
    started = time.perf_counter()
    with qtbot.waitSignal(window.controller.finished, timeout=RUN_TIMEOUT_MS):
        assert window.analyze()
        assert window.actions.cancel.isEnabled() and not window.actions.analyze.isEnabled()
        assert not window.results_panel.progress.isHidden()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=5000)
    run_s = time.perf_counter() - started
    qtbot.wait(150)  # the result's and the maps' first paint happen after the slots
    timer.stop()
    window.controller.progress.disconnect(note_phase)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert phases == {"votes", "maps"} and window.maps_panel.shown is not None
    assert run_s > 0.3, f"the run ({run_s:.2f} s) is too short to measure anything"
    assert len(ticks) > run_s / 0.05
    return max(gaps), run_s


def test_event_loop_is_never_blocked_over_100_ms_during_a_run(qtbot, analysis_window) -> None:
    """A 10 ms timer ticks through a whole run (model load, vote, maps, showing the result); the largest gap
    between two ticks is how long the GUI thread was unable to serve its event loop.

    Wall-clock gaps also include the OS starving the whole process when other programs load the machine, which
    the app cannot cause or prevent; so up to three runs are measured and the best one must stay under 100 ms.
    A slot that blocks for 120 ms fails every run (checked by hand: 161 ms)."""
    window = analysis_window
    window.settings_panel.set_settings(window.settings_panel.settings().with_(**RESPONSIVENESS_RUN))
    window.viewer_tabs.setCurrentIndex(1)  # the attention-map panes are on screen and repaint when the maps come
    measured = []
    for _ in range(3):
        measured.append(_largest_event_loop_gap(qtbot, window))
        if measured[-1][0] < MAX_EVENT_LOOP_GAP_S:
            break
    best_gap, run_s = min(measured)
    assert best_gap < MAX_EVENT_LOOP_GAP_S, f"event loop blocked for {1000 * best_gap:.0f} ms (run {run_s:.2f} s); all: {measured}"


def test_window_stays_usable_during_a_run(qtbot, analysis_window) -> None:
    window = analysis_window
    start_endless_run(qtbot, window)
    assert window.actions.cancel.isEnabled() and not window.actions.analyze.isEnabled()
    assert not window.results_panel.progress.isHidden()
    assert window.controller.is_running
    window.actions.zoom_in.trigger()  # the viewer still works
    with qtbot.waitSignal(window.controller.cancelled, timeout=RUN_TIMEOUT_MS):
        window.actions.cancel.trigger()


def test_cancel_mid_run_leaves_no_result_and_stops_the_thread(qtbot, analysis_window) -> None:
    window = analysis_window
    start_endless_run(qtbot, window)
    thread = window.controller.thread
    with qtbot.waitSignal(window.controller.cancelled, timeout=RUN_TIMEOUT_MS):
        window.results_panel.progress.cancel_button.click()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=5000)
    assert thread.isFinished()
    assert window.results_panel.result is None and window.results_panel.result_area.isHidden()
    assert window.results_panel.status_label.text() == "Analysis cancelled; no result."
    assert window.actions.analyze.isEnabled()


def test_closing_the_window_during_a_run_cancels_and_joins(qtbot, analysis_window) -> None:
    window = analysis_window
    start_endless_run(qtbot, window)
    thread = window.controller.thread
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 10
    assert thread.isFinished() and window.controller.thread is None


def test_opening_another_image_cancels_the_run(qtbot, analysis_window, dicom_dir: Path) -> None:
    window = analysis_window
    start_endless_run(qtbot, window)
    with qtbot.waitSignal(window.controller.cancelled, timeout=RUN_TIMEOUT_MS):
        assert window.open_path(dicom_dir / "mr_small_uncompressed.dcm")
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=5000)
    assert window.results_panel.result is None
    assert window.results_panel.status_label.text().startswith("Press Analyze")
    assert any("cancelled because another image" in text for _, text in window.banners.messages("analysis"))


def test_bad_model_ends_in_a_message_and_the_app_keeps_working(qtbot, analysis_window, tmp_path: Path,
                                                               tiny_model_card: Path) -> None:
    window = analysis_window
    bad_card = write_untrained_model(tmp_path / "bad", name="tampered", size=32)
    with (bad_card.parent / "tampered.safetensors").open("ab") as fh:
        fh.write(b"tampered")
    assert window.settings_panel.model_selector.load_card_file(bad_card)
    with qtbot.waitSignal(window.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.analyze()
    message = blocker.args[0]
    assert "does not match its card's sha256" in message
    assert ("error", message) in window.banners.messages("analysis")
    assert message in window.results_panel.status_label.text()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=5000)
    assert window.settings_panel.set_model_reference(str(tiny_model_card.resolve()))
    assert run_to_result(qtbot, window).n == 200
    assert window.banners.messages("analysis") == []


def test_engine_error_is_a_message(qtbot, analysis_window, monkeypatch) -> None:
    from medrdf_gui.app.analysis import jobs as worker_module

    def out_of_memory(*_, **__):
        raise MemoryError

    monkeypatch.setattr(worker_module, "robust_predict", out_of_memory)
    with qtbot.waitSignal(analysis_window.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        assert analysis_window.analyze()
    assert "ran out of memory" in blocker.args[0]
    qtbot.waitUntil(lambda: analysis_window.controller.thread is None, timeout=5000)
    assert analysis_window.actions.analyze.isEnabled()


def test_changed_setting_marks_the_result_stale(qtbot, analysis_window, tiny_model_card: Path) -> None:
    window = analysis_window
    run_to_result(qtbot, window)
    panel = window.results_panel
    assert not panel.stale and panel.stale_notice.isHidden()
    window.settings_panel.sigma.setValue(0.2)
    assert panel.stale and not panel.stale_notice.isHidden()
    assert panel.diagnosis_label.property("stale") is True
    window.settings_panel.sigma.setValue(0.1)  # back to what produced the result
    assert not panel.stale
    other = write_untrained_model(tiny_model_card.parent.parent / "other-model", name="other", size=32)
    window.settings_panel.model_selector.load_card_file(other)
    assert panel.stale


def test_disagreement_and_abstention_are_conspicuous(qtbot, analysis_window) -> None:
    window = analysis_window
    result = run_to_result(qtbot, window)
    others = [c for c in result.classes if c != result.diagnosis]
    alert = Alert(BASE_DISAGREEMENT, "The base model says X, but the defended vote says Y. Possible adversarial input.")
    disagreeing = dataclasses.replace(result, base_diagnosis=others[0], rm_verdict="accept", alerts=[alert])
    panel = window.results_panel
    panel.show_result(disagreeing)
    assert [f.property("alertCode") for f, _ in panel.alert_boxes] == [BASE_DISAGREEMENT]
    assert panel.alert_boxes[0][0].objectName() == "disagreement" and not panel.alerts_area.isHidden()
    assert "Possible adversarial input" in panel.alert_boxes[0][1].text()
    assert panel.verdict_badge.text() == "RE-EVALUATE"  # the RM rule accepted, the alert overrules it
    abstained = dataclasses.replace(result, diagnosis=None, label=None, abstained=True, rm_verdict="re-evaluate",
                                    alerts=[])
    panel.show_result(abstained)
    assert panel.diagnosis_label.text() == "Abstained"
    assert panel.verdict_badge.text() == "RE-EVALUATE"
    assert panel.reason_label.text() == abstained.reason()
    assert panel.alert_boxes == [] and panel.alerts_area.isHidden()


def test_a_setting_caution_sits_under_the_verdict_not_among_the_notes(qtbot, analysis_window) -> None:
    result = run_to_result(qtbot, analysis_window)
    panel = analysis_window.results_panel
    assert not any(a.code == UNVALIDATED_SETTING for a in result.alerts)  # the tiny card records no measurements
    caution = "Gaussian σ = 0.1 without a denoiser was never validated for this model: ..."
    cautioned = dataclasses.replace(result, caution=caution, warnings=[caution, "The image was lossy-compressed."],
                                    alerts=[Alert(UNVALIDATED_SETTING, caution)])
    panel.show_result(cautioned)
    (frame, label), = panel.alert_boxes
    assert frame.objectName() == "caution" and caution in label.text()
    assert panel.notes_label.text() == "Note: The image was lossy-compressed."


def test_worker_leaves_a_core_for_the_gui_and_restores_torch_threads(qtbot, analysis_window, monkeypatch) -> None:
    import os

    import torch

    from medrdf_gui.app.analysis import jobs as worker_module

    seen = []
    real_predict = worker_module.robust_predict

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003
        seen.append(torch.get_num_threads())
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(worker_module, "robust_predict", spy)
    before = torch.get_num_threads()
    run_to_result(qtbot, analysis_window)
    assert seen == [max(1, (os.cpu_count() or 1) - 1)]
    assert torch.get_num_threads() == before
