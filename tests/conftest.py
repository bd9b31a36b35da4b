"""Shared fixtures: the real data set beside the repo, and untrained tiny models written to a temp dir."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nothing a test runs may append to the real ~/.local/state/medrdf/audit.jsonl: off until `isolated_audit_log`
# points each test at its own temporary file (code running outside a test, e.g. at collection, writes nothing).
os.environ["MEDRDF_AUDIT_LOG"] = "off"
# Nor into the user's cache (~/.cache/medrdf: training runs, the vote backends' exported graphs): one per session.
os.environ["MEDRDF_CACHE_DIR"] = tempfile.mkdtemp(prefix="medrdf-test-cache-")
atexit.register(shutil.rmtree, os.environ["MEDRDF_CACHE_DIR"], ignore_errors=True)

from medrdf_gui import paths  # noqa: E402
from medrdf_gui.modelzoo.testing import write_untrained_model  # noqa: E402

DATA = paths.data_dir()


def require(path: Path) -> Path:
    """Real data is part of the test contract: a missing file is a failure, not a skip."""
    assert path.exists(), f"test data missing: {path} (set MEDRDF_DATA_DIR)"
    return path


@pytest.fixture(autouse=True)
def isolated_audit_log(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test gets its own audit log (inherited by the subprocesses it starts). It lives outside the test's
    ``tmp_path`` so that tests asserting what a folder contains are not disturbed."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    monkeypatch.setenv("MEDRDF_AUDIT_LOG", str(path))
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require(DATA)


@pytest.fixture(scope="session")
def dicom_dir(data_dir: Path) -> Path:
    return require(data_dir / "dicom")


@pytest.fixture(scope="session")
def cxr_png(data_dir: Path) -> Path:
    return require(data_dir / "cxr3" / "test" / "covid" / "COVID-1006.png")


@pytest.fixture(scope="session")
def tiny_model_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Card path of an untrained 3-class grey tinycnn at 32×32 (fast on CPU)."""
    return write_untrained_model(tmp_path_factory.mktemp("models"), name="tiny-untrained", size=32)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_card: Path):
    from medrdf_gui.modelzoo import load_model

    return load_model(tiny_model_card)


# PACS tests (tests/test_pacs*.py): a real Orthanc, see tests/orthanc.py ---------------------------------------------

def _pacs_files() -> list[Path]:
    from orthanc import PACS_FILES

    folder = DATA / "dicom"
    if not folder.is_dir():
        pytest.skip("../shared/data/dicom missing (the data tests fail loudly elsewhere)")
    return [require(folder / name) for name in PACS_FILES]


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory):
    """One Orthanc for the tests that only read from it, filled with PACS_FILES."""
    from orthanc import Orthanc

    files = _pacs_files()
    server = Orthanc(tmp_path_factory.mktemp("orthanc")).start()
    try:
        server.upload(*files)
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_orthanc(tmp_path: Path):
    """An Orthanc of its own for a test that changes what the server holds (deletes, sends)."""
    from orthanc import Orthanc

    files = _pacs_files()
    server = Orthanc(tmp_path / "orthanc").start()
    try:
        server.upload(*files)
        yield server
    finally:
        server.stop()
