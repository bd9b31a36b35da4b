"""File ▸ Export report…: default name without identifiers, de-identify option, PDF written by the worker from
the maps already computed, failures as a message with the app still usable."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from pypdf import PdfReader
from PySide6.QtWidgets import QDialog

from medrdf_gui.app.analysis import jobs
from medrdf_gui.app.dialogs.report_export import ExportReportDialog, default_report_name
from medrdf_gui.imaging import load_study
from medrdf_gui.report import ReportError

TIMEOUT_MS = 30_000
RG1 = "cxr_cr_mono1_j2k_lossy_RG1.dcm"  # PatientName CompressedSamples^RG1


def _pdf_text(path: Path) -> str:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_export_report_writes_the_pdf_with_the_maps_already_computed(qtbot, analysis_window, finish_run,
                                                                     tmp_path: Path, monkeypatch) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(4)
    assert not window.actions.export_report.isEnabled()  # no result yet
    result = finish_run(window)
    assert window.actions.export_report.isEnabled()
    assert any(b.text() == "Export report…" and b.isEnabled() for b in window.results_panel.result_buttons)
    window.app_settings.set_report_directory(tmp_path)
    calls = []
    real_write = jobs.write_report

    def spy(path, result_, study, maps, **kwargs):  # noqa: ANN001, ANN003
        calls.append((maps, kwargs["deidentify"], threading.get_ident()))
        return real_write(path, result_, study, maps, **kwargs)

    def no_recomputation(*_, **__):
        raise AssertionError("the report must reuse the maps on screen")

    monkeypatch.setattr(jobs, "write_report", spy)
    monkeypatch.setattr(jobs, "attention_maps", no_recomputation)
    monkeypatch.setattr(ExportReportDialog, "exec", lambda self: QDialog.DialogCode.Accepted)  # press Save
    with qtbot.waitSignal(window.controller.reportWritten, timeout=TIMEOUT_MS) as blocker:
        window.actions.export_report.trigger()
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
    path = Path(blocker.args[0])
    assert path == tmp_path / default_report_name(result) and path.is_file()
    assert calls == [(window.maps_panel.default_maps().maps, True, calls[0][2])]
    assert calls[0][2] != threading.get_ident()  # rendered in the worker thread
    text = _pdf_text(path)
    assert result.display(result.diagnosis) in text
    assert window.flow.last_report == path and "Report saved" in window.statusBar().currentMessage()
    assert window.actions.analyze.isEnabled() and window.actions.export_report.isEnabled()


def test_failed_report_write_is_a_message_and_the_app_stays_usable(qtbot, analysis_window, finish_run,
                                                                   tmp_path: Path, monkeypatch) -> None:
    window = analysis_window
    window.settings_panel.gradcam_copies.setValue(2)
    result = finish_run(window)
    message = f"Cannot write the report {tmp_path / 'x.pdf'}: Permission denied."

    def refuse(*_, **__):
        raise ReportError(message)

    monkeypatch.setattr(jobs, "write_report", refuse)
    with qtbot.waitSignal(window.controller.reportFailed, timeout=TIMEOUT_MS):
        assert window.flow.write_report(tmp_path / "x.pdf", deidentify=False)
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
    assert ("error", f"The report was not saved. {message}") in window.banners.messages("report")
    assert window.results_panel.result is result and window.maps_panel.default_maps() is not None
    assert window.actions.analyze.isEnabled() and window.actions.export_report.isEnabled()
    monkeypatch.undo()
    with qtbot.waitSignal(window.controller.reportWritten, timeout=TIMEOUT_MS):
        assert window.flow.write_report(tmp_path / "y.pdf")
    qtbot.waitUntil(lambda: window.controller.thread is None, timeout=10_000)
    assert (tmp_path / "y.pdf").is_file() and window.banners.messages("report") == []


def test_default_report_name_holds_no_identifier(make_window, finish_run, dicom_dir: Path, tiny_model_card: Path,
                                                 fast_settings) -> None:
    window = make_window()
    assert window.settings_panel.model_selector.load_card_file(tiny_model_card)
    window.settings_panel.set_settings(fast_settings.with_(n=100))
    window.settings_panel.gradcam_copies.setValue(1)
    assert window.open_path(dicom_dir / RG1)
    study = load_study(dicom_dir / RG1)
    assert study.identifiers["PatientName"] == "CompressedSamples^RG1"  # the premise
    result = finish_run(window)
    dialog = ExportReportDialog(result, window.app_settings.report_directory(), "", window)
    proposed = dialog.path()
    name = proposed.name
    assert name == f"medrdf-report-{study.pixel_sha256()[:12]}.pdf"
    forbidden = [v for v in study.identifiers.values() if len(v) >= 3]
    forbidden += ["CompressedSamples", "RG1", study.path.stem, study.path.name]
    assert not [v for v in forbidden if v.lower() in name.lower()]
    assert proposed.parent != study.path.parent  # not even the image's folder by default
    assert dialog.deidentify()  # de-identified unless the user unticks it
    dialog.deidentify_check.setChecked(False)
    assert not dialog.deidentify()
    dialog.path_edit.setText(str(proposed.with_suffix("")))
    assert dialog.path().suffix == ".pdf"
