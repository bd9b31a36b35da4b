"""The bundle's self-test, run in-process from the source tree on a tiny untrained model (fast).

The slow test in tests/test_bundle.py runs the same checks inside a built bundle; here we pin the logic: every
check passes on a healthy install, a tampered weights file FAILs the sha256 check with a non-zero exit, and an
empty models folder FAILs clearly instead of being papered over.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medrdf_gui import selftest
from medrdf_gui.modelzoo.testing import write_untrained_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    write_untrained_model(folder, name="tiny-untrained", size=32)
    return folder


def test_all_checks_pass_on_a_healthy_install(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.main(["--models-dir", str(models), "--copies", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("MedRDF Viewer ") and "self-test" in out[0]
    checks = [line for line in out[1:-1]]
    assert checks and all(line.startswith("PASS ") for line in checks), out
    names = {line.split(":")[0][5:] for line in checks}
    for expected in ("resources", "qt-plugins", "device", "model-sha256 tiny-untrained", "model-load tiny-untrained",
                     "predict", "dicom-decode RLE Lossless via pylibjpeg", "dicom-decode JPEG 2000 Lossless via pylibjpeg",
                     "dicom-decode JPEG 2000 Lossless via gdcm", "dicom-loader"):
        assert expected in names, (expected, names)
    assert out[-1] == f"self-test: {len(checks)} passed, 0 failed"


def test_tampered_weights_fail_the_sha_check(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = models / "tiny-untrained.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0x01  # one bit of one weight: still a valid safetensors file, no longer the shipped one
    weights.write_bytes(bytes(blob))
    assert selftest.main(["--models-dir", str(models), "--copies", "20"]) != 0
    out = capsys.readouterr().out
    sha_line = next(line for line in out.splitlines() if line.startswith(("PASS model-sha256", "FAIL model-sha256")))
    assert sha_line.startswith("FAIL model-sha256 tiny-untrained:") and "tampered" in sha_line
    assert "FAIL predict: skipped: no model loaded" in out
    assert "PASS dicom-loader" in out  # the other checks still run and report
    assert out.splitlines()[-1].endswith("failed") and " 0 failed" not in out.splitlines()[-1]


def test_no_shipped_model_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    results = selftest.run_checks(empty, copies=20)
    model = [r for r in results if r.name == "model"]
    assert len(model) == 1 and not model[0].ok and "no shipped model" in model[0].detail
    assert selftest.main(["--models-dir", str(empty)]) == 1


def test_expect_device_cuda_fails_without_a_gpu(models: Path) -> None:
    import torch

    results = {r.name: r for r in selftest.run_checks(models, copies=20, expect_device="cuda")}
    assert results["device"].ok == torch.cuda.is_available()


def test_synthetic_pattern_is_deterministic_and_structured() -> None:
    a, b = selftest.synthetic_pattern(64), selftest.synthetic_pattern(64)
    assert a.dtype == np.uint16 and a.shape == (64, 64) and np.array_equal(a, b)
    assert a.max() == 4095 and len(np.unique(a)) > 50  # a real grey-level image, not a flat field


def _run_entry(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from medrdf_gui import bundle_entry; rc = bundle_entry.main(sys.argv[1:]); "
            "print('QT-IMPORTED' if any(m.startswith('PySide6.Qt') for m in sys.modules) else 'NO-QT'); "
            "print('TORCH-IMPORTED' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)")
    env = {**os.environ, **(env_extra or {})}
    env.pop("QT_QPA_PLATFORM", None)  # as on a server: the entry point must not need Qt for these commands
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)


def test_bundle_entry_version_needs_neither_qt_nor_torch() -> None:
    done = _run_entry("--version")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("MedRDF Viewer ") and lines[1:] == ["NO-QT", "NO-TORCH"]


def test_bundle_entry_self_test_is_headless(models: Path) -> None:
    done = _run_entry("--self-test", "--copies", "20", env_extra={"MEDRDF_MODELS_DIR": str(models)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NO-QT" in done.stdout.splitlines()
    assert "FAIL" not in done.stdout
