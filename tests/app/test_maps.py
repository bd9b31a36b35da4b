"""Attention maps in the GUI: computed in the worker after the vote, shown over the image, class selector, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from medrdf_gui.app.analysis.analysis_controller import CLASS_MAPS
from medrdf_gui.app.view.heatmap import colorize, overlay_pixels, rgb_from_overlay
from medrdf_gui.app.main_window import IMAGE_TAB, MAPS_TAB
from medrdf_gui.imaging import load_study

TIMEOUT_MS = 30_000


def _assert_valid_map(values: np.ndarray | None, shape: tuple[int, int]) -> None:
    assert values is not None and values.shape == shape and values.dtype == np.float32
    assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0


def _choose_class(panel, name: str) -> None:
    """What a user's pick in the combo box does (``activated``, not a programmatic index change)."""
    index = panel.class_combo.findData(name)
    assert index >= 0
    panel.class_combo.setCurrentIndex(index)
    panel.class_combo.activated.emit(index)


def test_maps_have_the_image_size_and_lie_in_unit_range(analysis_window, finish_run, cxr_png) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(8)
    result = finish_run(window)
    panel = window.maps_panel
    shape = load_study(cxr_png).shape
    for pane in (panel.base_pane, panel.defended_pane):
        _assert_valid_map(pane.map_values, shape)
        assert pane.image_size() == (shape[1], shape[0])  # the overlay sits on the main view's own pixels
    shown = panel.default_maps()
    assert shown is panel.shown and shown.target is None
    assert shown.maps.copies == 8 and shown.maps.base_class == result.base_diagnosis
    assert shown.maps.defended_class == (result.diagnosis or result.base_diagnosis)
    assert shown.thread_ident != threading.get_ident()  # coloured in the worker, never in the GUI thread
    assert np.array_equal(shown.base_overlay, overlay_pixels(shown.maps.base))
    assert np.array_equal(rgb_from_overlay(shown.defended_overlay), colorize(shown.maps.defended))
    assert result.display(shown.maps.defended_class) in panel.defended_title.text()
    assert "m = 8" in panel.defended_note.text()
    assert panel.class_combo.isEnabled() and panel.class_combo.currentData() == ""
    window.actions.show_maps.trigger()
    assert window.viewer_tabs.currentIndex() == MAPS_TAB and not panel.base_pane.isHidden()


def test_opacity_and_overlay_toggle_change_the_displayed_pixels(analysis_window, finish_run) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(4)
    finish_run(window)
    panel, pane = window.maps_panel, window.maps_panel.base_pane
    grey = np.repeat(window.view.displayed_pixels[..., None], 3, axis=-1)
    heat = colorize(panel.shown.maps.base).astype(int)

    at_half = pane.composite()
    assert pane.overlay_opacity == pytest.approx(0.5)
    expected = (grey.astype(int) + heat) / 2  # the report's 50 % blend
    assert np.abs(at_half.astype(int) - expected).mean() < 2.0
    panel.opacity_slider.setValue(100)
    assert np.abs(pane.composite().astype(int) - heat).mean() < 2.0
    assert panel.opacity_label.text() == "100 %"
    panel.opacity_slider.setValue(20)
    at_fifth = pane.composite()
    assert not np.array_equal(at_fifth, at_half)
    panel.overlay_check.setChecked(False)
    assert np.array_equal(pane.composite(), grey) and not pane.overlay_visible
    assert np.array_equal(panel.defended_pane.composite(), grey)
    assert not panel.opacity_slider.isEnabled()
    panel.overlay_check.setChecked(True)
    assert np.array_equal(pane.composite(), at_fifth)
    # The window/level of the main view is what the panes show under the overlay.
    window.actions.invert.setChecked(True)
    window.view.render_now()
    panel.overlay_check.setChecked(False)
    assert np.array_equal(pane.composite(), 255 - grey)


def test_class_selector_recomputes_in_the_worker_thread(qtbot, analysis_window, finish_run) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(6)
    result = finish_run(window)
    panel = window.maps_panel
    default = panel.default_maps()
    target = next(c for c in result.classes if c not in (default.maps.base_class, default.maps.defended_class)) \
        if len({default.maps.base_class, default.maps.defended_class}) < len(result.classes) else result.classes[0]
    seen = {}

    def on_started(request) -> None:
        seen["kind"] = window.controller.kind
        seen["thread"] = window.controller.thread

    window.controller.started.connect(on_started)
    with qtbot.waitSignal(window.controller.mapsReady, timeout=TIMEOUT_MS) as blocker:
        _choose_class(panel, target)
        assert not panel.class_combo.isEnabled()  # no second pick while this one is computed
    outcome = blocker.args[0]
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
    assert seen["kind"] == CLASS_MAPS and seen["thread"] is not QApplication.instance().thread()
    assert outcome.thread_ident != threading.get_ident()
    assert outcome.target == target and outcome.maps.base_class == outcome.maps.defended_class == target
    assert panel.shown is outcome and panel.class_combo.currentData() == target
    assert panel.class_combo.isEnabled()
    _assert_valid_map(panel.base_pane.map_values, default.maps.base.shape)
    assert not (np.array_equal(outcome.maps.base, default.maps.base)
                and np.array_equal(outcome.maps.defended, default.maps.defended))
    assert result.display(target) in panel.base_title.text()
    # Back to the diagnosed classes: from the cache, no second job.
    _choose_class(panel, "")
    assert not window.controller.is_running and panel.shown is default


def test_cancel_during_the_maps_phase_leaves_no_half_state(qtbot, analysis_window) -> None:
    window = analysis_window
    # One copy per batch and the most copies m: the maps phase lasts long enough to be cancelled inside it.
    window.settings_panel.set_settings(window.settings_panel.settings().with_(n=100, batch_size=1))
    window.settings_panel.gradcam_copies.setValue(1024)
    progress = []
    window.controller.progress.connect(lambda done, total, text: progress.append((done, total, text)))
    with qtbot.waitSignal(window.controller.progress, timeout=TIMEOUT_MS,
                          check_params_cb=lambda done, total, text: text.startswith("Grad-CAM") and done > 1):
        assert window.analyze()
    thread = window.controller.thread
    assert thread is not None and not thread.isFinished()
    with qtbot.waitSignal(window.controller.cancelled, timeout=TIMEOUT_MS):
        window.results_panel.progress.cancel_button.click()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
    assert thread.isFinished()
    maps_progress = [done for done, total, text in progress if text.startswith("Grad-CAM")]
    assert maps_progress and max(maps_progress) < 1025  # stopped inside the maps phase, not after it
    results, maps = window.results_panel, window.maps_panel
    assert results.result is None and results.result_area.isHidden()
    assert results.status_label.text() == "Analysis cancelled; no result."
    assert maps.result is None and maps.shown is None and maps.default_maps() is None
    assert maps.base_pane.map_values is None and maps.defended_pane.map_values is None
    assert maps.stack.currentIndex() == 0 and not maps.class_combo.isEnabled()
    assert window.actions.analyze.isEnabled() and not window.actions.export_report.isEnabled()


def test_cancelled_class_maps_keep_the_maps_shown(qtbot, analysis_window, finish_run, monkeypatch) -> None:
    from medrdf_gui.app.analysis import jobs
    from medrdf_gui.robust import Cancelled

    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(4)
    result = finish_run(window)
    panel = window.maps_panel
    before = panel.shown
    entered = threading.Event()

    def endless_defended_gradcam(*args, should_cancel, **kwargs):  # noqa: ANN002, ANN003
        entered.set()
        while not should_cancel():
            threading.Event().wait(0.005)
        raise Cancelled("Attention maps cancelled.")

    monkeypatch.setattr(jobs, "defended_gradcam", endless_defended_gradcam)
    with qtbot.waitSignal(window.controller.mapsCancelled, timeout=TIMEOUT_MS):
        _choose_class(panel, result.classes[-1])
        qtbot.waitUntil(entered.is_set, timeout=TIMEOUT_MS)
        assert window.actions.cancel.isEnabled() and not panel.progress.isHidden()
        window.actions.cancel.trigger()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
    assert panel.shown is before and panel.class_combo.currentData() == ""
    assert panel.class_combo.isEnabled() and panel.progress.isHidden()
    assert window.results_panel.result is result  # the result itself is untouched


def test_panes_zoom_and_pan_together_and_follow_the_main_view(analysis_window, finish_run) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(2)
    finish_run(window)
    base, defended = window.maps_panel.base_pane, window.maps_panel.defended_pane
    window.view.zoom_by(3.0)
    window.view.centerOn(40, 60)
    window.viewer_tabs.setCurrentIndex(MAPS_TAB)
    region = window.view.visible_scene_rect()
    shown = base.visible_scene_rect()
    assert shown.contains(region.center()) and abs(shown.center().x() - region.center().x()) < 3
    window.actions.zoom_in.trigger()  # acts on the panes now
    assert base.zoom == pytest.approx(defended.zoom) and not base.fit_mode
    base.centerOn(200, 150)
    assert abs(defended.centre().x() - base.centre().x()) < 2 and abs(defended.centre().y() - base.centre().y()) < 2
    window.actions.fit.trigger()
    assert base.fit_mode and defended.fit_mode
    window.viewer_tabs.setCurrentIndex(IMAGE_TAB)
    assert window.view.fit_mode


def test_a_finished_analysis_is_audited(analysis_window, finish_run, isolated_audit_log) -> None:
    from medrdf_gui.audit import read_audit_log

    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(2)
    result = finish_run(window)
    entries = read_audit_log(isolated_audit_log)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["image_sha256"] == result.image_sha256 and entry["seed"] == result.seed
    assert entry["result"]["counts"] == result.counts and entry["model"]["sha256"] == result.model["sha256"]
    assert window.study.path.name not in isolated_audit_log.read_text()


def test_an_unwritable_audit_log_keeps_the_result_and_says_so(analysis_window, finish_run, tmp_path,
                                                              monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("MEDRDF_AUDIT_LOG", str(blocker / "audit.jsonl"))  # its parent is a file: cannot open
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(2)
    result = finish_run(window)
    assert window.results_panel.result is result and window.maps_panel.shown is not None
    warnings = [text for severity, text in window.banners.messages("analysis") if severity == "warning"]
    assert len(warnings) == 1 and "audit log" in warnings[0] and "kept but not audited" in warnings[0]
