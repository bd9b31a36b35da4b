"""Screenshot of File ▸ Open from PACS… with a query result, against a local Orthanc filled with the shared DICOM
samples (tests/orthanc.py). Run: xvfb-run -a .venv/bin/python docs/screenshots/capture_pacs.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from PySide6.QtWidgets import QApplication  # noqa: E402

from medrdf_gui.app.app_settings import AppSettings  # noqa: E402
from medrdf_gui.app.main_window import MainWindow  # noqa: E402
from medrdf_gui.pacs import Server, parse_address  # noqa: E402
from medrdf_gui.paths import data_dir  # noqa: E402
from orthanc import CLIENT_AET, PACS_FILES, Orthanc  # noqa: E402


def main() -> None:
    import os

    tmp = Path(tempfile.mkdtemp())
    os.environ["MEDRDF_PACS_CONFIG"] = str(tmp / "pacs.json")
    os.environ["MEDRDF_CACHE_DIR"] = str(tmp / "cache")
    orthanc = Orthanc(tmp / "orthanc").start()
    try:
        orthanc.upload(*(data_dir() / "dicom" / name for name in PACS_FILES))
        app = QApplication.instance() or QApplication(sys.argv)
        window = MainWindow(AppSettings(tmp / "settings.ini"))
        window.show()
        dialog = window.open_from_pacs()
        server = parse_address(orthanc.address)
        dialog.set_server(Server(server.ae_title, server.host, server.port, name="Orthanc (test)"), CLIENT_AET)
        dialog.save_server()
        dialog.date_from_edit.setText("2000-01-01")
        dialog.resize(1060, 560)
        assert dialog.search()
        while dialog.runner.thread is not None:
            app.processEvents()
        dialog.table.selectRow(1)
        for _ in range(20):
            app.processEvents()
        out = REPO / "docs" / "screenshots" / "open-from-pacs-dialog.png"
        dialog.grab().save(str(out))
        print(out)
        dialog.close()
        window.close()
    finally:
        orthanc.stop()


if __name__ == "__main__":
    main()
