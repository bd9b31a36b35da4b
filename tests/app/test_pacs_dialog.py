"""Open from PACS and Send to PACS in the GUI, against a real Orthanc: search, retrieve and step through the
retrieved study; a failure is a sentence in the dialog, which stays usable; cancel does not wait for a silent
server; a result sent from the window is filed in its study. Every worker thread is joined before a test ends."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pydicom
import pytest

from medrdf_gui.pacs import PacsConfig, Server, load_config, parse_address
from medrdf_gui.paths import data_dir
from orthanc import CLIENT_AET

DATA = data_dir()
CHEST = "cxr_cr_mono2_jpeg_baseline_siim_pa_ptx.dcm"


@pytest.fixture(autouse=True)
def pacs_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pacs.json"
    monkeypatch.setenv("MEDRDF_PACS_CONFIG", str(path))
    return path


def run(qtbot, dialog, start) -> None:
    """Start a task and wait until its thread has ended (finished, failed or cancelled)."""
    assert start()
    qtbot.waitUntil(lambda: dialog.runner.thread is None, timeout=15_000)


def open_dialog(window, orthanc, qtbot, aet: str | None = None):
    dialog = window.open_from_pacs()
    server = parse_address(orthanc.address)
    dialog.set_server(Server(aet or server.ae_title, server.host, server.port, name="test"), CLIENT_AET)
    return dialog


def test_search_retrieve_and_step_through_the_study(window, orthanc, qtbot, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = open_dialog(window, orthanc, qtbot)
    run(qtbot, dialog, dialog.test_connection)
    assert "answered the DICOM echo" in dialog.status_label.text()
    dialog.patient_name_edit.setText("Lestrade*")
    run(qtbot, dialog, dialog.search)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 0).text() == "Lestrade, G"
    assert dialog.table.item(0, 7).text() == "2" and dialog.retrieve_button.isEnabled()
    with qtbot.waitSignal(dialog.studyRetrieved, timeout=15_000) as blocker:
        assert dialog.retrieve()
    qtbot.waitUntil(lambda: dialog.runner.thread is None, timeout=5_000)
    folder = Path(blocker.args[0])
    assert window.study is not None and len(window.navigator.files) == 2
    assert window.navigator.folder == folder and window.actions.next_study.isEnabled()
    first = window.study.frame_count
    assert window.step_study(1) and {first, window.study.frame_count} == {1, 2}  # JPEG image and 2-frame RLE
    assert "Lestrade" not in window.windowTitle() and "Lestrade" not in str(folder)
    assert "Lestrade" not in caplog.text


def test_a_failure_is_a_sentence_and_the_dialog_stays_usable(window, orthanc, qtbot) -> None:
    dialog = open_dialog(window, orthanc, qtbot, aet="WRONG_AET")
    run(qtbot, dialog, dialog.search)
    assert "does not know the called AE title 'WRONG_AET'" in dialog.status_label.text()
    assert dialog.table.rowCount() == 0 and dialog.search_button.isEnabled()
    dialog.aet_edit.setText("ORTHANC")
    dialog.modality_edit.setText("US")
    run(qtbot, dialog, dialog.search)
    assert dialog.table.rowCount() == 1
    dialog.date_from_edit.setText("2020-02-31")
    assert not dialog.search() and "is not a date" in dialog.status_label.text()
    dialog.close()


def test_cancel_does_not_wait_for_a_silent_server(window, qtbot) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        dialog = window.open_from_pacs()
        dialog.set_server(Server("X", "127.0.0.1", silent.getsockname()[1]), CLIENT_AET)
        dialog.config.timeout_s = 30
        assert dialog.search() and dialog.cancel_button.isEnabled()
        qtbot.wait(200)
        dialog.runner.cancel()
        qtbot.waitUntil(lambda: dialog.runner.thread is None, timeout=5_000)  # not the 30 s timeout
    assert "Cancelled" in dialog.status_label.text()


def test_servers_are_saved_for_the_cli(window, orthanc, qtbot, pacs_config: Path) -> None:
    dialog = open_dialog(window, orthanc, qtbot)
    assert dialog.save_server()
    saved = load_config(pacs_config)
    assert saved.calling_aet == CLIENT_AET and saved.resolve("test").port == orthanc.dicom_port
    dialog.close()


def test_send_to_pacs_from_the_window(make_window, fresh_orthanc, tiny_model_card: Path, fast_settings,
                                      finish_run, qtbot) -> None:
    window = make_window()
    assert window.settings_panel.model_selector.load_card_file(tiny_model_card)
    window.settings_panel.set_settings(fast_settings)
    assert window.open_path(DATA / "dicom" / CHEST)
    assert not window.actions.send_to_pacs.isEnabled()
    finish_run(window)
    assert window.actions.send_to_pacs.isEnabled()
    with qtbot.waitSignal(window.pacs_send.sent, timeout=30_000):
        assert window.pacs_send.send(parse_address(fresh_orthanc.address), PacsConfig(calling_aet=CLIENT_AET))
    qtbot.waitUntil(lambda: window.pacs_send.runner.thread is None, timeout=5_000)
    study_uid = str(pydicom.dcmread(DATA / "dicom" / CHEST, stop_before_pixels=True).StudyInstanceUID)
    series = fresh_orthanc.get(f"/studies/{fresh_orthanc.study_id(study_uid)}/series")
    modalities = sorted(s["MainDicomTags"].get("Modality", "") for s in series)
    assert modalities == ["CR", "DOC", "SR"]
    # a PNG has no study to file into: the action stays off
    assert window.open_path(DATA / "cxr3" / "test" / "covid" / "COVID-1006.png")
    finish_run(window)
    assert not window.actions.send_to_pacs.isEnabled()
