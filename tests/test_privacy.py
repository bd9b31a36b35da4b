"""No identifying DICOM value reaches a log, an error message, a traceback, the audit log, the CLI's output or a
default file name — checked with logging at DEBUG (pydicom's own debugging dumps switched on too), on a real
radiograph with known identifiers and on damaged copies of real files that still carry theirs. Plus the audit
log's content and location, and the weights-integrity rule (the parsed bytes are the hashed bytes).

The identifier values are read from the files with pydicom (``IDENTIFYING_KEYWORDS``), not typed in, and matched
as whole tokens so that e.g. the referring physician "ward" does not match "forward".
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import pydicom
import pytest

from bad_inputs import dicom_variant, rewrite_transfer_syntax
from medrdf_gui.audit import AuditLog, audit_entry, configured_audit_path, default_audit_path, read_audit_log
from medrdf_gui.cli import main
from medrdf_gui.imaging import IDENTIFYING_KEYWORDS, StudyLoadError, load_study
from medrdf_gui.modelzoo import load_model, study_to_tensor
from medrdf_gui.report import report_path_for
from medrdf_gui.robust import robust_predict

RG1 = "cxr_cr_mono1_j2k_lossy_RG1.dcm"  # PatientName CompressedSamples^RG1, and 17 more identifying values
MR = "mr_small_uncompressed.dcm"  # CompressedSamples^MR1, PatientID 4MR1, ...


def identifier_values(path: Path) -> set[str]:
    """Every identifying value in the file (and each part of a person name), at least 4 characters long."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    values: set[str] = set()
    for keyword in IDENTIFYING_KEYWORDS:
        value = ds.get(keyword)
        if value in (None, ""):
            continue
        for item in value if isinstance(value, pydicom.multival.MultiValue) else [value]:
            text = str(item).strip()
            values.add(text)
            values.update(part for part in re.split(r"[\^=]", text) if part)
    return {v for v in values if len(v) >= 4 and re.search(r"[0-9A-Za-z]", v)}  # "----" is not a secret


def leaked(text: str, needles: set[str]) -> list[str]:
    """The identifier values that occur in ``text`` as whole tokens."""
    return sorted(v for v in needles if re.search(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", text))


@pytest.fixture()
def pydicom_debugging():
    """pydicom's own debugging switch: it logs every element it reads, values included, at DEBUG."""
    logger = logging.getLogger("pydicom")
    level, was = logger.level, pydicom.config.debugging
    pydicom.config.debug(True, default_handler=False)
    yield
    pydicom.config.debugging = was
    logger.setLevel(level)


@pytest.fixture(scope="module")
def rg1_needles(dicom_dir: Path) -> set[str]:
    needles = identifier_values(dicom_dir / RG1)
    assert {"CompressedSamples^RG1", "9RG1", "19400305", "Philips Medical Systems Hamburg"} <= needles
    return needles


def test_identifiers_never_reach_logs_audit_or_output(tmp_path: Path, caplog, capfd, pydicom_debugging, dicom_dir: Path,
                                                      tiny_model, tiny_model_card: Path, rg1_needles: set[str]) -> None:
    study_path = tmp_path / "study.dcm"  # a neutral name: the test is about header values, not the user's file name
    study_path.write_bytes((dicom_dir / RG1).read_bytes())
    caplog.set_level(logging.DEBUG)
    audit_path = tmp_path / "audit.jsonl"

    study = load_study(study_path)
    assert study.identifiers["PatientName"] == "CompressedSamples^RG1"  # the loader did see them
    result = robust_predict(tiny_model, study_to_tensor(study, tiny_model.card), n=20, seed=0, device="cpu")
    result.image_sha256 = study.pixel_sha256()
    AuditLog(audit_path).record(result)
    code = main(["predict", str(study_path), "--model", str(tiny_model_card), "--n", "20", "--seed", "0",
                 "--device", "cpu", "--json", "--audit-log", str(audit_path)])
    code_text = main(["predict", str(study_path), "--model", str(tiny_model_card), "--n", "20", "--seed", "0",
                      "--device", "cpu", "--audit-log", str(audit_path)])
    out, err = capfd.readouterr()
    assert code == 0 and code_text == 0, err
    assert caplog.records, "logging at DEBUG captured nothing: the test would be vacuous"
    assert leaked(caplog.text, rg1_needles) == []
    assert leaked(out + err, rg1_needles) == []
    assert leaked(json.dumps(result.to_dict()), rg1_needles) == []
    audit_text = audit_path.read_text()
    assert audit_text.count("\n") == 3 and leaked(audit_text, rg1_needles) == []
    assert "study.dcm" not in audit_text and str(tmp_path) not in audit_text, "the audit log holds no path"
    for deidentify in (False, True):  # default report names: the file's stem or the pixel hash, never a header value
        name = report_path_for(f"{tmp_path}/reports/", study_path, study.pixel_sha256(), deidentify=deidentify, many=True)
        assert leaked(str(name.relative_to(tmp_path)), rg1_needles) == []


def _set_short_element(blob: bytes, tag_and_vr: bytes, value: bytes) -> bytes:
    """Replace the value of an explicit-VR element with a 2-byte length (pydicom would refuse to write junk)."""
    at = blob.find(tag_and_vr)
    assert at > 0 and len(value) % 2 == 0
    (length,) = struct.unpack("<H", blob[at + 6 : at + 8])
    return blob[: at + 6] + struct.pack("<H", len(value)) + value + blob[at + 8 + length :]


def _broken_copies(dicom_dir: Path, folder: Path) -> dict[str, Path]:
    """Damaged files that still carry their patients' identifiers in the header."""
    native = (dicom_dir / MR).read_bytes()
    pixel_at = native.rfind(b"\xe0\x7f\x10\x00")
    rg1 = (dicom_dir / RG1).read_bytes()
    wrong_vr = bytearray(native)
    at = wrong_vr.find(b"\x10\x00\x20\x00LO")  # PatientID re-typed as DS: pydicom logs "Invalid value ... '4MR1'"
    wrong_vr[at + 4 : at + 6] = b"DS"
    uid_at = native.find(b"\x20\x00\x0d\x00UI")  # StudyInstanceUID: pydicom quotes an invalid UID in full
    (uid_len,) = struct.unpack("<H", native[uid_at + 6 : uid_at + 8])
    bad_uid = native[uid_at + 8 : uid_at + 8 + uid_len].rstrip(b"\x00")[:-1] + b"#"
    uid_corrupt = _set_short_element(native, b"\x20\x00\x0d\x00UI", bad_uid + b"\x00" * (len(bad_uid) % 2))
    window_name = _set_short_element(native, b"\x28\x00\x50\x10DS", b"CompressedSamples ")  # a name as WindowCenter
    variants = {
        "truncated_pixels.dcm": native[: pixel_at + 2000],
        "rg1_truncated.dcm": rg1[: len(rg1) // 2],
        "rows_wrong.dcm": dicom_variant(dicom_dir / MR, Rows=100),
        "unknown_ts.dcm": rewrite_transfer_syntax(native, "1.2.826.0.1.3680043.9.9999.7.1"),
        "one_pixel.dcm": dicom_variant(dicom_dir / MR, Rows=1, Columns=1, PixelData=b"\x00\x00"),
        "patient_id_as_ds.dcm": bytes(wrong_vr),
        "study_uid_corrupt.dcm": uid_corrupt,
        "window_is_a_name.dcm": window_name,
        "deflated_junk.dcm": rewrite_transfer_syntax(native, pydicom.uid.DeflatedExplicitVRLittleEndian),
    }
    paths = {}
    for name, blob in variants.items():
        paths[name] = folder / name
        paths[name].write_bytes(blob)
    return paths


def test_broken_files_with_identifiers_leak_nothing(tmp_path: Path, caplog, capfd, pydicom_debugging, dicom_dir: Path,
                                                    tiny_model_card: Path, rg1_needles: set[str]) -> None:
    mr_uid = str(pydicom.dcmread(dicom_dir / MR, stop_before_pixels=True).StudyInstanceUID)
    needles = rg1_needles | identifier_values(dicom_dir / MR) | {"CompressedSamples", mr_uid[:-1]}
    caplog.set_level(logging.DEBUG)
    broken = _broken_copies(dicom_dir, tmp_path)
    messages = []
    for name, path in broken.items():
        try:
            study = load_study(path)
        except StudyLoadError as exc:
            messages.append(str(exc))
            assert exc.__cause__ is None and exc.__context__ is None, name  # nothing chained for a crash report
            assert leaked("".join(traceback.format_exception(exc)), needles) == [], name
        else:  # a harmless damage: then the identifiers are where they belong, and only there
            assert study.identifiers and leaked(json.dumps(study.warnings), needles) == [], name
    assert len(messages) >= 6
    assert leaked("\n".join(messages), needles) == []
    code = main(["predict", *map(str, broken.values()), "--model", str(tiny_model_card), "--n", "20", "--device", "cpu",
                 "--json"])
    out, err = capfd.readouterr()
    assert code == 2 and err.count("\n") == len(messages)
    assert leaked(caplog.text, needles) == [] and leaked(out + err, needles) == []
    assert any("Invalid value for VR UI: [value withheld]" in r.getMessage() for r in caplog.records), \
        "pydicom did log its complaint about the damaged UID, with the value withheld"


def test_subprocess_with_debug_logging_leaks_nothing(tmp_path: Path, dicom_dir: Path, tiny_model_card: Path,
                                                     rg1_needles: set[str]) -> None:
    """A real process whose root logger prints everything at DEBUG to stderr (and pydicom debugging on), run on a
    good study and on damaged ones: stdout, stderr and the audit log hold no identifier."""
    study = tmp_path / "study.dcm"
    study.write_bytes((dicom_dir / RG1).read_bytes())
    broken = _broken_copies(dicom_dir, tmp_path)
    audit_path = tmp_path / "audit.jsonl"
    script = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); import pydicom; "
              "pydicom.config.debug(True, default_handler=False); from medrdf_gui.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "predict", str(study), str(broken["patient_id_as_ds.dcm"]),
                           str(broken["rg1_truncated.dcm"]), "--model", str(tiny_model_card), "--n", "20", "--seed", "0",
                           "--device", "cpu", "--json", "--audit-log", str(audit_path)],
                          capture_output=True, text=True, timeout=120)
    needles = rg1_needles | identifier_values(dicom_dir / MR)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "DEBUG" in proc.stderr, "debug logging was not on"
    assert leaked(proc.stdout, needles) == [] and leaked(proc.stderr, needles) == []
    assert leaked(audit_path.read_text(), needles) == []


def test_audit_entry_reproduces_the_verdict(tmp_path: Path, cxr_png: Path, tiny_model) -> None:
    """Model + weights hash + settings + seed from the entry, applied to the image with the entry's pixel hash,
    give the same counts and verdict: the entry is enough to reproduce it."""
    study = load_study(cxr_png)
    x = study_to_tensor(study, tiny_model.card)
    result = robust_predict(tiny_model, x, n=60, batch_size=16, device="cpu")  # a fresh random seed, recorded
    result.image_sha256 = study.pixel_sha256()
    log = AuditLog(tmp_path / "a.jsonl")
    log.record(result)
    (entry,) = read_audit_log(tmp_path / "a.jsonl")
    assert entry["schema"] == 1 and entry["event"] == "predict" and entry["app_version"] == result.app_version
    assert entry["model"] == {"name": tiny_model.name, "sha256": tiny_model.sha256}
    assert entry["image_sha256"] == load_study(cxr_png).pixel_sha256()
    assert entry["seed"] == entry["settings"]["seed"] == result.seed
    assert {"diagnosis", "verdict", "rm", "counts", "p_value", "abstained", "n_used"} <= entry["result"].keys()
    settings = {k: v for k, v in entry["settings"].items() if k != "device"}
    again = robust_predict(tiny_model, x, device="cpu", **settings)
    assert again.counts == entry["result"]["counts"] and again.verdict == entry["result"]["verdict"]
    assert again.rm == pytest.approx(entry["result"]["rm"]) and again.p_value == pytest.approx(entry["result"]["p_value"])


def test_audit_entry_is_an_allow_list(tiny_model, cxr_png: Path) -> None:
    """Fields a Result may carry that must never be logged (warnings are free text; a path may name a patient)."""
    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=20, seed=1, device="cpu")
    result.warnings.append("Smith^John was here")
    result.path = "/data/Smith_John/chest.dcm"  # type: ignore[attr-defined]  # a field some caller might add
    text = json.dumps(audit_entry(result))
    assert "Smith" not in text and "warnings" not in text and "path" not in text


def test_audit_log_location(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEDRDF_AUDIT_LOG")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert configured_audit_path() == default_audit_path() == tmp_path / "state" / "medrdf" / "audit.jsonl"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_audit_path() == tmp_path / "home" / ".local" / "state" / "medrdf" / "audit.jsonl"
    monkeypatch.setenv("MEDRDF_AUDIT_LOG", str(tmp_path / "x.jsonl"))
    assert AuditLog().path == tmp_path / "x.jsonl" and AuditLog(tmp_path / "y.jsonl").path == tmp_path / "y.jsonl"
    monkeypatch.setenv("MEDRDF_AUDIT_LOG", "off")
    assert configured_audit_path() is None and not AuditLog().enabled and AuditLog().record(object()) is None
    assert not AuditLog(tmp_path / "z.jsonl", enabled=False).enabled


def test_cli_audit_flags(capfd, monkeypatch, tmp_path: Path, cxr_png: Path, tiny_model_card: Path,
                         isolated_audit_log: Path) -> None:
    base = ["predict", str(cxr_png), "--model", str(tiny_model_card), "--n", "20", "--device", "cpu"]
    assert main(base) == 0  # on by default, at the configured place ($MEDRDF_AUDIT_LOG here)
    assert len(read_audit_log(isolated_audit_log)) == 1
    assert main([*base, "--audit-log", str(tmp_path / "own.jsonl")]) == 0
    assert len(read_audit_log(tmp_path / "own.jsonl")) == 1 and len(read_audit_log(isolated_audit_log)) == 1
    assert main([*base, "--no-audit-log"]) == 0
    assert len(read_audit_log(isolated_audit_log)) == 1
    monkeypatch.setenv("MEDRDF_AUDIT_LOG", "off")
    assert main(base) == 0 and len(read_audit_log(isolated_audit_log)) == 1
    with pytest.raises(SystemExit):  # the two flags exclude each other
        main([*base, "--no-audit-log", "--audit-log", str(tmp_path / "b.jsonl")])
    capfd.readouterr()


def test_concurrent_appends_stay_whole_lines(tmp_path: Path, tiny_model, cxr_png: Path) -> None:
    """Eight writers (threads here; the O_APPEND + single-write rule is the same across processes) append 40
    entries each: every line parses and none is lost."""
    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=20, seed=2, device="cpu")
    result.image_sha256 = "ab" * 32
    log = AuditLog(tmp_path / "busy.jsonl")
    threads = [threading.Thread(target=lambda: [log.record(result) for _ in range(40)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "busy.jsonl").read_text().splitlines()
    assert len(lines) == 320 and all(json.loads(line)["image_sha256"] == "ab" * 32 for line in lines)
    assert oct((tmp_path / "busy.jsonl").stat().st_mode & 0o777) == oct(0o600)


def test_parsed_weights_are_the_hashed_bytes(monkeypatch, tiny_model_card: Path) -> None:
    """The weights are read once; the very bytes whose sha256 matched the card are what safetensors parses (no
    second read that a swapped file could win), and safetensors' byte parser is the only loader used."""
    from medrdf_gui.modelzoo import registry

    seen: list[bytes] = []
    real = registry.load_safetensors_bytes
    monkeypatch.setattr(registry, "load_safetensors_bytes", lambda blob: seen.append(blob) or real(blob))
    reads: list[Path] = []
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real_read(self))
    model = load_model(tiny_model_card)
    assert len(seen) == 1 and hashlib.sha256(seen[0]).hexdigest() == model.sha256
    assert [p.suffix for p in reads] == [".safetensors"]
