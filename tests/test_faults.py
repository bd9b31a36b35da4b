"""Injected faults at the command line: out of memory, interruption, a missing / unreadable / tampered model, an
unwritable or full audit log, a failed report — each ends in a clear one-line message, and nothing the user
already has (a printed result, an audit entry, a previous report) is lost.

Covered elsewhere and not repeated here: cancelling the engine mid-run (tests/test_engine.py::
test_cancel_mid_run_raises_and_stops), the engine's OOM halving and its batch-of-one error (test_engine.py),
and the report's atomic write under EACCES / ENOSPC at mkstemp, fsync and rename, which leaves no partial file
and keeps the previous report (tests/test_report.py::test_failed_write_*, test_cli_report_write_failure_*).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from medrdf_gui import audit as audit_module
from medrdf_gui.audit import AuditError, AuditLog, read_audit_log
from medrdf_gui.cli import main
from medrdf_gui.modelzoo import ModelLoadError, NormalizedClassifier, load_model

BASE = ["--n", "40", "--seed", "0", "--device", "cpu"]


def _predict(capfd, *args: str) -> tuple[int, str, str]:
    code = main(["predict", *args])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)"),
    RuntimeError("CUDA error: out of memory (injected, the pre-2.5 form)"),
])
def test_out_of_memory_halves_the_batch_and_the_run_goes_on(monkeypatch, capfd, cxr_png: Path, tiny_model_card: Path,
                                                            isolated_audit_log: Path, error: Exception) -> None:
    real_forward = NormalizedClassifier.forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 8:
            raise error
        return real_forward(self, x)

    monkeypatch.setattr(NormalizedClassifier, "forward", forward)
    # the out-of-memory path is torch's (a GPU's memory); the CPU's compiled backends never run out this way
    code, out, err = _predict(capfd, str(cxr_png), "--model", str(tiny_model_card), *BASE, "--n", "100",
                              "--batch-size", "64", "--backend", "torch", "--sampling", "fixed", "--json")
    obj = json.loads(out)
    assert code == 0 and err == ""
    assert obj["settings"]["batch_size"] == 8 and sum(obj["counts"].values()) == 100  # 64 → 32 → 16 → 8
    (entry,) = read_audit_log(isolated_audit_log)
    assert entry["settings"]["batch_size"] == 8  # the audit records the batch size actually used


def test_out_of_memory_even_at_batch_one_is_one_clear_line(monkeypatch, capfd, cxr_png: Path, tiny_model_card: Path,
                                                           isolated_audit_log: Path) -> None:
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(NormalizedClassifier, "forward", forward)
    code, out, err = _predict(capfd, str(cxr_png), "--model", str(tiny_model_card), *BASE, "--json")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("medrdf: ") and "out of memory" in err.lower() and "Traceback" not in err
    assert not isolated_audit_log.exists()  # no result, nothing audited


def test_interrupt_keeps_the_results_already_printed(monkeypatch, capfd, data_dir: Path, cxr_png: Path,
                                                     tiny_model_card: Path, isolated_audit_log: Path) -> None:
    """Ctrl-C during the second image: exit 130 with one line; the first image's verdict was printed and audited."""
    from medrdf_gui import robust

    real = robust.robust_predict
    calls = []

    def predict(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(robust, "robust_predict", predict)
    other = data_dir / "cxr3" / "test" / "normal" / "Normal-10001.png"
    code, out, err = _predict(capfd, str(cxr_png), str(other), "--model", str(tiny_model_card), *BASE, "--json")
    assert code == 130 and err == "medrdf: interrupted.\n"
    assert [json.loads(line)["path"] for line in out.splitlines()] == [str(cxr_png)]
    assert len(read_audit_log(isolated_audit_log)) == 1


@pytest.fixture()
def model_copy(tmp_path: Path, tiny_model_card: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for f in tiny_model_card.parent.glob("tiny-untrained.*"):
        shutil.copy(f, folder / f.name)
    return folder / "tiny-untrained.json"


def _break_missing(weights: Path, monkeypatch) -> None:
    weights.unlink()


def _break_unreadable(weights: Path, monkeypatch) -> None:
    """Root reads anything, so unreadability is injected: read_bytes of this one file raises EACCES."""
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == weights:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def _break_sha256(weights: Path, monkeypatch) -> None:
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit in the middle of the tensors: still parseable, no longer the card's
    weights.write_bytes(bytes(blob))


@pytest.mark.parametrize("breaker,reason", [
    (_break_missing, "is missing"),
    (_break_unreadable, r"cannot be read \(Permission denied\)"),
    (_break_sha256, "does not match its card's sha256"),
])
def test_a_broken_model_is_refused_naming_its_file(monkeypatch, capfd, model_copy: Path, cxr_png: Path,
                                                   isolated_audit_log: Path, breaker, reason: str) -> None:
    weights = model_copy.with_suffix(".safetensors")
    breaker(weights, monkeypatch)
    with pytest.raises(ModelLoadError, match=reason) as info:
        load_model(model_copy)
    assert str(weights) in str(info.value)
    code, out, err = _predict(capfd, str(cxr_png), "--model", str(model_copy), *BASE)
    assert code == 1 and out == "" and err == f"medrdf: {info.value}\n"
    assert not isolated_audit_log.exists()


def test_a_missing_model_card_is_a_usage_error(capfd, tmp_path: Path, cxr_png: Path) -> None:
    card = tmp_path / "nowhere" / "model.json"
    code, out, err = _predict(capfd, str(cxr_png), "--model", str(card), *BASE)
    assert code == 2 and out == "" and err.count("\n") == 1 and str(card) in err


def test_unwritable_audit_log_warns_once_and_keeps_the_results(capfd, tmp_path: Path, cxr_png: Path,
                                                               tiny_model_card: Path) -> None:
    """A real failure, not an injected one (root can write anywhere, but not below a regular file): two results
    printed, exit 0, and exactly one warning line that names the audit log."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    target = blocker / "audit.jsonl"
    code, out, err = _predict(capfd, str(cxr_png), str(cxr_png), "--model", str(tiny_model_card), *BASE, "--json",
                              "--audit-log", str(target))
    assert code == 0 and len(out.splitlines()) == 2 and all("diagnosis" in json.loads(x) for x in out.splitlines())
    assert err.count("\n") == 1 and err.startswith("medrdf: warning: Cannot open the audit log") and str(target) in err


def test_full_disk_for_the_audit_log(monkeypatch, capfd, tmp_path: Path, cxr_png: Path, tiny_model_card: Path) -> None:
    target = tmp_path / "audit.jsonl"

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_module.os, "write", no_space)
    code, out, err = _predict(capfd, str(cxr_png), "--model", str(tiny_model_card), *BASE, "--audit-log", str(target))
    assert code == 0 and "MedRDF diagnosis" in out
    assert err == f"medrdf: warning: Cannot write the audit log {target} (No space left on device). " \
                  "The result above is kept but not audited.\n"
    assert target.read_bytes() == b""  # opened, nothing half-written


def test_a_short_write_is_a_failure_not_a_silent_torn_line(monkeypatch, tmp_path: Path, tiny_model, cxr_png: Path) -> None:
    from medrdf_gui.robust import robust_predict

    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=20, seed=0, device="cpu")
    log = AuditLog(tmp_path / "a.jsonl")
    log.record(result)
    real_write = os.write
    monkeypatch.setattr(audit_module.os, "write", lambda fd, data: real_write(fd, data[:10]))
    with pytest.raises(AuditError, match="only 10 of"):
        log.record(result)
    monkeypatch.undo()
    log.record(result)  # starts on a fresh line: the torn fragment stays alone on its own
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == 3 and len(lines[1]) == 10
    assert len(read_audit_log(tmp_path / "a.jsonl")) == 2  # the reader skips the fragment, keeps both entries


def test_a_failed_report_keeps_the_printed_and_audited_result(monkeypatch, capfd, tmp_path: Path, cxr_png: Path,
                                                              tiny_model_card: Path, isolated_audit_log: Path) -> None:
    """The report is written last: when it fails (exit 1), the verdict is already on stdout and in the audit log."""
    from medrdf_gui import report

    def fail(path, *args, **kwargs):
        raise report.ReportError(f"Cannot write the report {path} (No space left on device).")

    monkeypatch.setattr(report, "write_report", fail)
    monkeypatch.setattr("medrdf_gui.explain.attention_maps", lambda *a, **k: None)
    out_pdf = tmp_path / "r.pdf"
    code, out, err = _predict(capfd, str(cxr_png), "--model", str(tiny_model_card), *BASE, "--json", "--report", str(out_pdf))
    assert code == 1 and err.count("\n") == 1 and "Cannot write the report" in err
    assert json.loads(out)["verdict"] in ("accept", "re-evaluate")
    assert len(read_audit_log(isolated_audit_log)) == 1 and not out_pdf.exists()
