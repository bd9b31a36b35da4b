"""Results back to the PACS, against a real Orthanc: ``medrdf pacs …`` and ``predict --send`` end to end (the PDF
and the SR found in the image's study with the right Study Instance UID, the SR's numbers those of the JSON
result), and the identity guard refusing each way a result could land in the wrong or an identified study."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from medrdf_gui.cli import main
from medrdf_gui.imaging import load_study
from medrdf_gui.modelzoo import load_model, study_to_tensor
from medrdf_gui.pacs import PacsError, parse_address, send_result
from medrdf_gui.pacs.errors import GUARD
from medrdf_gui.report.writer import render_report
from medrdf_gui.robust import RobustSettings, robust_predict
from medrdf_gui.paths import data_dir
from orthanc import CLIENT_AET, PACS_FILES

DATA = data_dir()

CHEST = "cxr_cr_mono2_jpeg_baseline_siim_pa_ptx.dcm"
# (not --backend torch: `predict --backend torch --report` fails in Grad-CAM on "inference tensors", a bug of its own)
FAST = ["--n", "200", "--batch-size", "50", "--seed", "0", "--device", "cpu", "--sampling", "fixed",
        "--gradcam-copies", "1"]


def sr_values(ds: pydicom.Dataset) -> dict[str, object]:
    """Content items of the SR by concept code value: NUM as float, TEXT as text, CODE as code value."""
    out: dict[str, object] = {}
    for item in ds.ContentSequence:
        code = item.ConceptNameCodeSequence[0].CodeValue
        if item.ValueType == "NUM":
            out[code] = float(item.MeasuredValueSequence[0].NumericValue)
        elif item.ValueType == "TEXT":
            out.setdefault(code, item.TextValue)
        elif item.ValueType == "CODE":
            out[code] = item.ConceptCodeSequence[0].CodeValue
    return out


def test_cli_echo_find_get(orthanc, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["pacs", "echo", orthanc.address, "--aet", CLIENT_AET]) == 0
    assert "echo answered" in capsys.readouterr().out
    assert main(["pacs", "find", orthanc.address, "--aet", CLIENT_AET, "--modality", "US", "--json"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    study = json.loads(line)
    us = pydicom.dcmread(DATA / "dicom" / "us_multiframe_jpeg_ybr422_30f.dcm")
    assert study["StudyInstanceUID"] == us.StudyInstanceUID and study["ModalitiesInStudy"] == ["US"]
    assert main(["pacs", "get", orthanc.address, study["StudyInstanceUID"], "--aet", CLIENT_AET,
                 "--out", str(tmp_path / "out"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    (path,) = Path(got["folder"]).glob("*.dcm")
    assert pydicom.dcmread(path).PixelData == us.PixelData


@pytest.mark.parametrize("args, code, words", [
    (["pacs", "echo", "NOPE@127.0.0.1:{port}"], 1, "does not know the called AE title 'NOPE'"),
    (["pacs", "find", "{address}", "--date-from", "2020-02-30"], 2, "is not a date"),
    (["pacs", "get", "{address}", "1.2.3.999", "--out", "{tmp}"], 1, "not (or no longer) on the PACS"),
    (["pacs", "echo", "main"], 2, "neither a configured PACS name"),
])
def test_cli_failures_are_one_line(orthanc, tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                   code: int, words: str) -> None:
    filled = [a.format(port=orthanc.dicom_port, address=orthanc.address, tmp=tmp_path) for a in args]
    assert main([*filled, "--aet", CLIENT_AET]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_cli_servers_by_name(orthanc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MEDRDF_PACS_CONFIG", str(tmp_path / "pacs.json"))
    assert main(["pacs", "servers", "--add", "test-pacs", orthanc.address, "--calling-aet", CLIENT_AET]) == 0
    capsys.readouterr()
    assert main(["pacs", "echo", "test-pacs"]) == 0  # by name, with the configured calling AE title
    assert "test-pacs (ORTHANC@127.0.0.1" in capsys.readouterr().out


def test_predict_send_files_pdf_and_sr_in_the_study(fresh_orthanc, tiny_model_card: Path,
                                                     capsys: pytest.CaptureFixture, isolated_audit_log: Path) -> None:
    image = DATA / "dicom" / CHEST
    source = pydicom.dcmread(image, stop_before_pixels=True)
    assert main(["predict", str(image), "--model", str(tiny_model_card), *FAST, "--json",
                 "--send", fresh_orthanc.address, "--aet", CLIENT_AET]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    instances = fresh_orthanc.instances_of_study(str(source.StudyInstanceUID))
    by_modality = {}
    for inst in instances:
        ds = pydicom.dcmread(__import__("io").BytesIO(fresh_orthanc.get_bytes(f"/instances/{inst['ID']}/file")))
        by_modality[ds.Modality] = ds
    assert set(by_modality) == {"CR", "DOC", "SR"}
    pdf, sr = by_modality["DOC"], by_modality["SR"]
    for ds in (pdf, sr):
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID and str(ds.PatientName) == str(source.PatientName)
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID and ds.SOPInstanceUID != source.SOPInstanceUID
    assert pdf.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" and pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert bytes(pdf.EncapsulatedDocument)[:5] == b"%PDF-" and pdf.BurnedInAnnotation == "YES"
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    values = sr_values(sr)
    assert values["rm"] == pytest.approx(result["rm"]) and values["n"] == result["n"]
    assert values["p-value"] == pytest.approx(result["p_value"])
    assert values["121071"] == (result["diagnosis"] or "abstained")
    assert values["model-sha256"] == result["model"]["sha256"]
    assert values["verdict"].startswith("ACCEPT" if result["verdict"] == "accept" else "RE-EVALUATE")
    assert json.loads(values["settings"])["n"] == 200
    (ref,) = [i for i in sr.ContentSequence if i.ValueType == "IMAGE"]
    assert ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    entries = [json.loads(line) for line in isolated_audit_log.read_text().splitlines()]
    sends = [e for e in entries if e["event"] == "pacs-send"]
    assert sends and sends[0]["stored"] == ["pdf", "sr"] and sends[0]["image_sha256"] == result["image_sha256"]
    text = isolated_audit_log.read_text()
    assert str(source.PatientName) not in text and str(source.StudyInstanceUID) not in text


@pytest.fixture(scope="module")
def chest_result(tiny_model):
    study = load_study(DATA / "dicom" / CHEST)
    settings = RobustSettings(n=100, batch_size=50, seed=0, device="cpu", sampling="fixed", backend="torch")
    result = robust_predict(tiny_model, study_to_tensor(study, tiny_model.card), settings)
    result.attach_study(study)
    return study, result


def _send(orthanc, study, result, pdf: bytes = b"%PDF-1.4 test", identified: bool = True):
    return send_result(parse_address(orthanc.address), CLIENT_AET, study, result, pdf, report_identified=identified,
                       timeout=10)


def test_guard_refuses_a_deidentified_report_into_an_identified_study(fresh_orthanc, chest_result) -> None:
    study, result = chest_result
    before = fresh_orthanc.instance_count()
    with pytest.raises(PacsError) as info:
        _send(fresh_orthanc, study, result, render_report(result, study, None, deidentify=True), identified=False)
    assert info.value.kind == GUARD and "never sent into an identified study" in str(info.value)
    assert fresh_orthanc.instance_count() == before


def test_guard_refuses_a_deidentified_copy_of_an_identified_study(fresh_orthanc, chest_result, tmp_path: Path) -> None:
    """De-identification that keeps UIDs: same Study Instance UID, no name. Its result must not reach the
    identified original on the PACS."""
    _, _ = chest_result
    ds = pydicom.dcmread(DATA / "dicom" / CHEST)
    ds.PatientName, ds.PatientID, ds.PatientIdentityRemoved = "", "ANON-0001", "YES"
    copy = tmp_path / "anon.dcm"
    ds.save_as(copy)
    study = load_study(copy)
    result = chest_result[1]
    result = type(result)(**{**result.__dict__, "image_sha256": study.pixel_sha256()})
    before = fresh_orthanc.instance_count()
    with pytest.raises(PacsError) as info:
        _send(fresh_orthanc, study, result, identified=False)
    assert info.value.kind == GUARD and "de-identified copy" in str(info.value) and "patient ID" in str(info.value)
    assert "ANON" not in str(info.value) and fresh_orthanc.instance_count() == before
    with pytest.raises(PacsError) as info:  # nor with an identified page
        _send(fresh_orthanc, study, result, identified=True)
    assert info.value.kind == GUARD


def test_guard_refuses_a_result_of_another_image(fresh_orthanc, chest_result) -> None:
    study, result = chest_result
    other = load_study(DATA / "dicom" / "ct_small_uncompressed.dcm")
    with pytest.raises(PacsError) as info:
        _send(fresh_orthanc, other, result)
    assert info.value.kind == GUARD and "another image" in str(info.value)


def test_guard_refuses_a_study_the_pacs_does_not_hold(fresh_orthanc, chest_result) -> None:
    study, result = chest_result
    fresh_orthanc.delete(f"/studies/{fresh_orthanc.study_id(str(pydicom.dcmread(study.path).StudyInstanceUID))}")
    with pytest.raises(PacsError) as info:
        _send(fresh_orthanc, study, result)
    assert info.value.kind == GUARD and "not on the PACS" in str(info.value)
    assert fresh_orthanc.instance_count() == len(PACS_FILES) - 1


def test_send_of_a_png_is_refused(orthanc, chest_result, cxr_png: Path) -> None:
    _, result = chest_result
    with pytest.raises(PacsError, match="results go back only into a DICOM study"):
        _send(orthanc, load_study(cxr_png), result)
