"""Viewing: opening files (real PNG and DICOM data), windowing, frames, tags, identifiers, errors, navigation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from medrdf_gui.app.view.qimage_conversion import to_display_bytes
from medrdf_gui.app.panels.tags_model import HIDDEN_TEXT
from medrdf_gui.app.view.window_preset_box import VOI_LUT_LABEL
from medrdf_gui.imaging import load_study

CHEST_MONO1 = "cxr_cr_mono1_nopreamble_CR-MONO1-10-chest.dcm"  # 440×440, 10-bit, MONOCHROME1, WC/WW


def test_no_file_shows_open_prompt_and_recent_files(make_window, cxr_png: Path, settings_path: Path) -> None:
    first = make_window()
    assert first.stack.currentWidget() is first.welcome
    assert first.open_path(cxr_png)
    first.close()
    second = make_window(settings_path)
    assert second.stack.currentWidget() is second.welcome
    assert second.welcome.recent_paths() == [str(cxr_png.resolve())]


def test_open_png_shows_image_at_its_size(window, cxr_png: Path) -> None:
    assert window.open_path(cxr_png)
    study = load_study(cxr_png)
    rows, cols = study.shape
    assert window.stack.currentWidget() is window.viewer_tabs and window.viewer_tabs.currentWidget() is window.view
    assert window.view.image_size() == (cols, rows)
    assert window.view.displayed_pixels.shape == (rows, cols)
    assert cxr_png.name in window.windowTitle()


def test_open_dicom_shows_windowed_16bit_data_not_truncated(window, dicom_dir: Path) -> None:
    path = dicom_dir / CHEST_MONO1
    assert window.open_path(path)
    study = load_study(path)
    assert window.view.image_size() == (440, 440)
    shown = window.view.displayed_pixels
    expected = to_display_bytes(study.render(study.default_window))
    np.testing.assert_array_equal(shown, expected)
    # Not a naive cast of the 10-bit stored values to 8 bits ...
    assert not np.array_equal(shown, (study.raw & 0xFF).astype(np.uint8))
    assert not np.array_equal(shown, (study.raw >> 2).astype(np.uint8))
    # ... and MONOCHROME1: the highest stored value is the darkest on screen.
    brightest_value = np.unravel_index(np.argmax(study.modality_values), study.shape)
    darkest_value = np.unravel_index(np.argmin(study.modality_values), study.shape)
    assert shown[brightest_value] < shown[darkest_value]
    assert window.preset_box.currentText().endswith("(file)")


def test_voi_lut_sequence_is_the_default_rendering(window, dicom_dir: Path) -> None:
    path = dicom_dir / "ot_voi_lut_sequence.dcm"
    assert window.open_path(path)
    study = load_study(path)
    np.testing.assert_array_equal(window.view.displayed_pixels, to_display_bytes(study.display))
    assert window.preset_box.currentText() == VOI_LUT_LABEL


def test_right_drag_changes_window_and_displayed_pixels(window, dicom_dir: Path, mouse) -> None:
    assert window.open_path(dicom_dir / CHEST_MONO1)
    before = window.view.displayed_pixels.copy()
    start_window = window.view.window
    viewport = window.view.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    mouse.right_drag(viewport, centre, centre + QPointF(-120, 80))
    after = window.view.displayed_pixels
    assert window.view.window != start_window
    assert window.view.window.width < start_window.width  # dragged left: narrower window
    assert window.view.window.center > start_window.center  # dragged down: higher level
    assert not np.array_equal(before, after)
    assert window.preset_box.currentText().startswith("Custom")
    assert window.window_label.text().startswith("W ")
    window.actions.reset_view.trigger()
    window.view.render_now()
    np.testing.assert_array_equal(window.view.displayed_pixels, before)


def test_preset_and_invert_change_pixels(window, dicom_dir: Path) -> None:
    assert window.open_path(dicom_dir / "ct_small_uncompressed.dcm")
    before = window.view.displayed_pixels.copy()
    names = [p.name if p else None for p in window.preset_box.presets()]
    assert "CT lung" in names and "CT mediastinum" in names
    window.preset_box.presetChosen.emit(window.preset_box.presets()[names.index("CT lung")])
    window.view.render_now()
    lung = window.view.displayed_pixels.copy()
    assert not np.array_equal(before, lung)
    window.actions.invert.setChecked(True)
    window.view.render_now()
    np.testing.assert_array_equal(window.view.displayed_pixels, 255 - lung)


def test_zoom_and_fit(window, cxr_png: Path) -> None:
    assert window.open_path(cxr_png)
    fitted = window.view.zoom
    window.actions.zoom_in.trigger()
    assert window.view.zoom > fitted
    window.actions.actual_size.trigger()
    assert window.view.zoom == 1.0
    window.actions.fit.trigger()
    assert abs(window.view.zoom - fitted) < 1e-6


def test_pixel_value_under_cursor_in_status_bar(window, dicom_dir: Path, mouse) -> None:
    path = dicom_dir / "ct_small_uncompressed.dcm"
    assert window.open_path(path)
    study = load_study(path)
    row, col = 40, 70
    pos = window.view.mapFromScene(QPointF(col + 0.5, row + 0.5))
    mouse.hover(window.view.viewport(), QPointF(pos))
    text = window.pixel_label.text()
    assert text.startswith(f"x {col}, y {row}")
    assert f"value {float(study.modality_values[row, col]):g} HU" in text


def test_multiframe_frame_selector(window, dicom_dir: Path) -> None:
    assert window.open_path(dicom_dir / "mr_enhanced_multiframe_10f.dcm")
    selector = window.frame_selector
    assert not selector.isHidden() and selector.frame_count == 10
    first = window.view.displayed_pixels.copy()
    selector.request_frame(4)
    assert window.study.frame_index == 4
    assert not np.array_equal(first, window.view.displayed_pixels)
    assert any("Multi-frame" in text for _, text in window.banners.messages("study"))
    assert window.open_path(dicom_dir / "mr_small_uncompressed.dcm")
    assert selector.isHidden()


def test_loader_warnings_are_shown(window, dicom_dir: Path) -> None:
    assert window.open_path(dicom_dir / "ct_small_uncompressed.dcm")
    messages = window.banners.messages("study")
    assert ("warning", "CT image: the model was trained on chest radiographs (CR/DX).") in messages
    assert window.banners.isVisibleTo(window)


def test_identifiers_hidden_until_asked(window, dicom_dir: Path) -> None:
    assert window.open_path(dicom_dir / "ct_small_uncompressed.dcm")
    name = "CompressedSamples^CT1"
    tags, info = window.tags_panel, window.info_panel
    assert not window.actions.show_identifiers.isChecked()
    assert ("PatientName", HIDDEN_TEXT) in tags.visible_values()
    assert name not in info.shown_text()
    tags.search.setText("CompressedSamples")  # searching cannot reveal a hidden value
    assert tags.visible_values() == []
    window.actions.show_identifiers.setChecked(True)
    assert ("PatientName", name) in tags.visible_values()
    assert name in info.shown_text()
    tags.search.setText("modality")
    assert [kw for kw, _ in tags.visible_values()] == ["Modality"]


def test_bad_file_shows_message_and_app_stays_usable(window, dicom_dir: Path, cxr_png: Path) -> None:
    assert window.open_path(cxr_png)
    assert not window.open_path(dicom_dir / "sr_nonimage.dcm")
    errors = window.banners.messages("load")
    assert len(errors) == 1 and errors[0][0] == "error" and "contains no image" in errors[0][1]
    assert window.study is not None and window.study.path == cxr_png  # the previous image stays
    assert window.open_path(dicom_dir / "mr_small_uncompressed.dcm")
    assert window.banners.messages("load") == []


def test_missing_file_from_command_line(tmp_path: Path, settings_path: Path, qtbot) -> None:
    from medrdf_gui.app.main import create_main_window

    window = create_main_window(str(tmp_path / "missing.dcm"), str(settings_path))
    qtbot.addWidget(window)
    assert window.study is None
    assert "does not exist" in window.banners.messages("load")[0][1]
    window.close()


def test_main_opens_the_path_given(monkeypatch, cxr_png: Path, settings_path: Path, qtbot) -> None:
    from medrdf_gui.app import main as entry

    created = []

    class FakeApp:
        def exec(self) -> int:
            return 0

    def fake_create(path, settings):  # noqa: ANN001
        window = entry.MainWindow(entry.AppSettings(settings))
        window.open_path(path)
        created.append(window)
        qtbot.addWidget(window)
        return window

    monkeypatch.setattr(entry, "application", lambda qt_args=(): FakeApp())
    monkeypatch.setattr(entry, "create_main_window", fake_create)
    assert entry.main([str(cxr_png), "--settings", str(settings_path)]) == 0
    assert created[0].study.path == cxr_png
    created[0].close()


def test_folder_of_studies_next_previous(window, dicom_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "studies"
    folder.mkdir()
    for name in ("a_ct_small_uncompressed.dcm", "b_sr_nonimage.dcm", "c_mr_small_uncompressed.dcm"):
        shutil.copy(dicom_dir / name[2:], folder / name)
    assert window.open_path(folder)
    assert window.study.path.name.startswith("a_")
    assert window.position_label.text() == "Study 1 / 3"
    assert not window.actions.previous_study.isEnabled() and window.actions.next_study.isEnabled()
    window.actions.next_study.trigger()  # not an image: error, view cleared, stepping still works
    assert window.study is None and window.banners.messages("load")
    window.actions.next_study.trigger()
    assert window.study.path.name.startswith("c_")
    assert window.position_label.text() == "Study 3 / 3" and not window.actions.next_study.isEnabled()
    window.actions.previous_study.trigger()
    window.actions.previous_study.trigger()
    assert window.study.path.name.startswith("a_")


def test_drag_and_drop_opens_the_file(window, cxr_png: Path, qtbot) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(cxr_png))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.study is not None, timeout=5000)
    assert window.study.path == cxr_png


def test_recent_files_menu_persists(make_window, cxr_png: Path, dicom_dir: Path, settings_path: Path) -> None:
    first = make_window()
    first.open_path(cxr_png)
    first.open_path(dicom_dir / "mr_small_uncompressed.dcm")
    first.close()
    second = make_window(settings_path)
    second.recent_menu.refresh()
    names = [a.text() for a in second.recent_menu.actions() if a.text()]
    assert names[:2] == ["mr_small_uncompressed.dcm", cxr_png.name]


def test_first_start_size_fits_the_screen(window) -> None:
    """No saved geometry: 1440×900, or the screen's available size where that is smaller (small laptops), but
    never below the layout's minimum (the offscreen test screen is 800×800, narrower than that minimum)."""
    available = window.screen().availableGeometry().size()
    minimum = window.minimumSizeHint()
    expected = (max(min(1440, available.width()), minimum.width()),
                max(min(900, available.height()), minimum.height()))
    assert (window.width(), window.height()) == expected
