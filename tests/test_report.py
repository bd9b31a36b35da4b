"""The PDF report: content, de-identification (body and metadata), atomic writes, and `medrdf predict --report`."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from medrdf_gui.cli import main
from medrdf_gui.explain import attention_maps
from medrdf_gui.imaging import load_study
from medrdf_gui.modelzoo import study_to_tensor
from medrdf_gui.report import ReportError, check_report_target, render_report, report_path_for, write_report
from medrdf_gui.report import writer as report_writer
from medrdf_gui.robust import robust_predict

RG1 = "cxr_cr_mono1_j2k_lossy_RG1.dcm"  # manifest.csv: PatientName CompressedSamples^RG1


@pytest.fixture(scope="module")
def rg1_case(dicom_dir: Path, tiny_model):
    study = load_study(dicom_dir / RG1)
    assert study.identifiers["PatientName"] == "CompressedSamples^RG1"  # the premise of the de-identification test
    x = study_to_tensor(study, tiny_model.card)
    result = robust_predict(tiny_model, x, n=100, seed=0, device="cpu")
    maps = attention_maps(tiny_model, x, result, copies=4, size=(96, 90))
    return study, result, maps, tiny_model.card


def _read(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def _objects_outside_streams(pdf: bytes) -> bytes:
    """The PDF without its encoded streams (compressed page content and images: the page text is what the reader
    extracts; their bytes may hold any digits) and without the cross-reference table (ten-digit byte offsets,
    which vary with the report's timestamp and once contained an identifier's five digits by chance). Streams
    without a /Filter (plain text such as XMP metadata) stay in and are searched."""
    import re

    def drop_encoded(match: re.Match) -> bytes:
        dictionary = pdf[max(0, match.start() - 400) : match.start()].rsplit(b"obj", 1)[-1]
        return b"stream endstream" if b"/Filter" in dictionary else match.group(0)

    without_streams = re.sub(rb"stream\r?\n.*?endstream", drop_encoded, pdf, flags=re.S)
    return re.sub(rb"\nxref\n.*?trailer", b"\ntrailer", without_streams, flags=re.S)


def _identifying_strings(study) -> list[str]:
    """Every stored identifier value, plus the forms the identified report prints (name, ISO dates) and the
    file name; all at least 4 characters, so that a chance hit in other text cannot make the test flaky."""
    values = [v for v in study.identifiers.values() if len(v) >= 4]
    values += ["CompressedSamples", "9RG1", "1940-03-05", "2004-08-26", study.path.name, study.path.stem]
    return values


def test_report_text_holds_diagnosis_flag_rm_settings_and_model(rg1_case) -> None:
    study, result, maps, card = rg1_case
    reader, text = _read(render_report(result, study, maps, card=card))
    assert 1 <= len(reader.pages) <= 2
    assert [round(float(v)) for v in reader.pages[0].mediabox[2:]] == [595, 842]  # A4 portrait, in points
    assert result.display(result.diagnosis) in text
    assert ("ACCEPT" if result.verdict == "accept" else "RE-EVALUATE") in text
    assert f"RM = {result.rm:.2f}" in text and result.reason() in text.replace("\n", " ")
    assert f"Base (undefended) model: {result.display(result.base_diagnosis)}" in text
    for needle in ("salt-pepper", "Noise level σ", "0.1", "Copies n", "100", "median", "Median window",
                   "Significance α", "0.001", "RM threshold", "Batch size", "64", "Grad-CAM copies m", "net.layer4"):
        assert needle in text, needle
    assert f"--seed {result.seed}" in text
    assert result.model["sha256"] in text and len(result.model["sha256"]) == 64
    assert "tiny-untrained" in text and "not recorded" in text  # an untrained test model has no test accuracy
    assert "NOT a medical device" in text and result.device in text
    assert study.pixel_sha256()[:12] in text
    assert "CompressedSamples, RG1" in text  # identified report: the name is there (so the next test means something)


def test_recorded_test_accuracy_is_printed(rg1_case) -> None:
    study, result, maps, card = rg1_case
    from dataclasses import replace

    trained = replace(card, metrics={"test": {"accuracy": 0.9375}})
    _, text = _read(render_report(result, study, maps, card=trained))
    assert "93.8 %" in text and "not recorded" not in text


def test_deidentified_report_holds_no_identifier_anywhere(rg1_case) -> None:
    study, result, maps, card = rg1_case
    pdf = render_report(result, study, maps, card=card, deidentify=True)
    reader, text = _read(pdf)
    metadata = " ".join(str(v) for v in (reader.metadata or {}).values())
    for value in _identifying_strings(study):
        assert value not in text, value  # the page body, as a reader would copy it
        assert value not in metadata, value  # the document information dictionary
        assert value.encode() not in _objects_outside_streams(pdf), value  # any other object (e.g. XMP)
    assert "Modality" not in text and "Image (CR)" not in text
    assert "de-identified" in text and study.pixel_sha256()[:12] in text
    assert reader.metadata.get("/Author") is None
    assert reader.metadata["/Title"] == "MedRDF Viewer report"


def test_report_without_maps_still_renders(rg1_case) -> None:
    study, result, _, card = rg1_case
    _, text = _read(render_report(result, study, None, card=card))
    assert "not computed" in text


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _read_only(*_args, **_kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("target,failure,reason", [
    ("tempfile.mkstemp", _read_only, "Permission denied"),  # read-only folder: not even the temp file opens
    ("os.fsync", _disk_full, "No space left on device"),  # disk full while the bytes are flushed
    ("os.replace", _disk_full, "No space left on device"),  # the final rename fails
])
def test_failed_write_raises_report_error_and_leaves_no_file(rg1_case, tmp_path: Path, monkeypatch, target: str,
                                                             failure, reason: str) -> None:
    study, result, maps, card = rg1_case
    pdf = render_report(result, study, maps, card=card)  # render first: only the write is under test
    monkeypatch.setattr(report_writer, "render_report", lambda *a, **k: pdf)
    module, name = target.split(".")
    monkeypatch.setattr({"os": report_writer.os, "tempfile": report_writer.tempfile}[module], name, failure)
    out = tmp_path / "report.pdf"
    with pytest.raises(ReportError) as info:
        write_report(out, result, study, maps, card=card)
    message = str(info.value)
    assert str(out) in message and reason in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_report(rg1_case, tmp_path: Path, monkeypatch) -> None:
    study, result, maps, card = rg1_case
    out = tmp_path / "report.pdf"
    out.write_bytes(b"previous report")
    monkeypatch.setattr(report_writer.os, "replace", _disk_full)
    with pytest.raises(ReportError):
        write_report(out, result, study, maps, card=card)
    assert out.read_bytes() == b"previous report" and [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_real_read_only_folder(rg1_case, tmp_path: Path) -> None:
    study, result, maps, card = rg1_case
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ReportError, match="Cannot write the report"):
            write_report(folder / "r.pdf", result, study, maps, card=card)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_write_report_writes_a_valid_pdf_and_refuses_a_missing_folder(rg1_case, tmp_path: Path) -> None:
    study, result, maps, card = rg1_case
    out = write_report(tmp_path / "r.pdf", result, study, maps, card=card, deidentify=True)
    assert out.read_bytes().startswith(b"%PDF") and len(PdfReader(out).pages) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.pdf"]
    with pytest.raises(ReportError, match="does not exist"):
        write_report(tmp_path / "nowhere" / "r.pdf", result, study, maps)


def test_report_targets_for_one_or_several_images(tmp_path: Path) -> None:
    image = Path("/data/Smith_John.dcm")
    h = "0123456789abcdef"
    assert report_path_for(str(tmp_path / "a.pdf"), image, h, deidentify=False, many=False) == tmp_path / "a.pdf"
    folder = str(tmp_path / "out") + "/"
    assert report_path_for(folder, image, h, deidentify=False, many=True) == tmp_path / "out" / "Smith_John.pdf"
    assert report_path_for(folder, image, h, deidentify=True, many=True) == tmp_path / "out" / "0123456789ab.pdf"
    pattern = str(tmp_path / "{stem}-{hash}.pdf")
    assert report_path_for(pattern, image, h, deidentify=True, many=True).name == "0123456789ab-0123456789ab.pdf"
    used: set[Path] = set()
    first = report_path_for(folder, image, h, deidentify=False, many=True, used=used)
    second = report_path_for(folder, Path("/other/Smith_John.png"), "fedcba9876543210", deidentify=False, many=True, used=used)
    assert first != second and second.name == "Smith_John-fedcba987654.pdf"
    check_report_target(str(tmp_path / "one.pdf"), 1)
    check_report_target(folder, 3)
    with pytest.raises(ReportError, match="3 images need a folder"):
        check_report_target(str(tmp_path / "one.pdf"), 3)
    with pytest.raises(ReportError, match="knows only"):
        check_report_target(str(tmp_path / "{name}.pdf"), 1)


def test_cli_deidentified_report_headless(tmp_path: Path, dicom_dir: Path, tiny_model_card: Path) -> None:
    """`medrdf predict IMG --report out.pdf --deidentify` in a fresh process without a display: exit 0, a valid
    one-page PDF without the patient's name, and neither pyplot nor Qt ever imported."""
    out = tmp_path / "out.pdf"
    script = (
        "import sys; from medrdf_gui.cli import main; rc = main(sys.argv[1:]); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
        "assert not any(m.startswith(('PySide6', 'PyQt')) for m in sys.modules), 'Qt imported'; sys.exit(rc)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    args = ["predict", str(dicom_dir / RG1), "--model", str(tiny_model_card), "--n", "100", "--seed", "0",
            "--report", str(out), "--deidentify", "--gradcam-copies", "4"]
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reader = PdfReader(out)
    text = reader.pages[0].extract_text()
    assert len(reader.pages) == 1 and "MedRDF diagnosis" in text and "Grad-CAM copies m" in text
    assert "CompressedSamples" not in text and RG1 not in text
    assert [p.name for p in tmp_path.iterdir()] == ["out.pdf"]


def test_cli_report_write_failure_is_one_line_and_exit_1(capsys, monkeypatch, tmp_path: Path, cxr_png: Path,
                                                         tiny_model_card: Path) -> None:
    monkeypatch.setattr(report_writer.os, "replace", _disk_full)
    out = tmp_path / "out.pdf"
    code = main(["predict", str(cxr_png), "--model", str(tiny_model_card), "--n", "100", "--seed", "0",
                 "--report", str(out), "--gradcam-copies", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().count("\n") == 0 and err.startswith("medrdf: Cannot write the report") and str(out) in err
    assert list(tmp_path.iterdir()) == []


def test_cli_several_images_need_a_folder_and_get_one_report_each(capsys, tmp_path: Path, data_dir: Path,
                                                                  cxr_png: Path, tiny_model_card: Path) -> None:
    other = data_dir / "cxr3" / "test" / "normal" / "Normal-10001.png"
    base = ["predict", str(cxr_png), str(other), "--model", str(tiny_model_card), "--n", "20", "--seed", "0",
            "--gradcam-copies", "2"]
    assert main([*base, "--report", str(tmp_path / "one.pdf")]) == 2
    assert "need a folder" in capsys.readouterr().err and list(tmp_path.iterdir()) == []

    folder = tmp_path / "reports"
    assert main([*base, "--report", f"{folder}/", "--deidentify"]) == 0
    hashes = sorted(load_study(p).pixel_sha256()[:12] + ".pdf" for p in (cxr_png, other))
    assert sorted(p.name for p in folder.iterdir()) == hashes


def test_the_reproduce_line_recomputes_the_result(capsys, cxr_png: Path, tiny_model_card: Path) -> None:
    """The report's `medrdf predict` line, with IMAGE and the model filled in, gives the same counts and flag."""
    import json
    import shlex

    from medrdf_gui.modelzoo import load_model
    from medrdf_gui.report.content import reproduce_command

    model = load_model(tiny_model_card)
    result = robust_predict(model, model.input_tensor(cxr_png), n=300, batch_size=50, device="cpu",
                            sampling="adaptive", backend="torch")
    line = reproduce_command(result, None)
    assert "--backend torch --precision fp32" in line and f"--seed {result.seed}" in line
    args = shlex.split(line.replace("IMAGE", shlex.quote(str(cxr_png))).replace(
        f"--model {result.model['name']}", f"--model {shlex.quote(str(tiny_model_card))}"))
    assert args[:2] == ["medrdf", "predict"]
    assert main([*args[1:], "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["counts"] == result.counts and again["verdict"] == result.verdict and again["n_used"] == result.n_used
