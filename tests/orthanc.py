"""A real Orthanc PACS for the tests: started on free loopback ports with a temporary configuration and storage,
filled through its REST API, stopped at teardown.

Orthanc comes from the Debian package ``orthanc`` (scripts/bootstrap.sh installs it). When it is missing the
PACS tests *fail* with that sentence rather than skip: CI must run them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

AET = "ORTHANC"
CLIENT_AET = "MEDRDF"  # registered in the server's modalities: allowed to query, retrieve and store
# Files loaded into the test PACS, chosen for unique SOP Instance UIDs: a compressed MR (JPEG-LS), a 10-frame MR,
# a two-image colour series (JPEG Baseline + 2-frame RLE), a 30-frame JPEG US, a CT, a CR with an accession
# number, and a chest CR for sending results.
PACS_FILES = ("mr_small_jpegls_lossless.dcm", "mr_enhanced_multiframe_10f.dcm", "sc_rgb_jpeg_baseline_ybr.dcm",
              "sc_rgb_rle_2frame.dcm", "us_multiframe_jpeg_ybr422_30f.dcm", "ct_small_uncompressed.dcm",
              "xr_cr_mono1_modality_lut_jpeg_lossless.dcm", "cxr_cr_mono2_jpeg_baseline_siim_pa_ptx.dcm")


def orthanc_binary() -> str:
    found = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc", os.X_OK) else None)
    if not found:
        raise AssertionError("Orthanc is not installed: the PACS tests need the Debian package 'orthanc' "
                             "(scripts/bootstrap.sh installs it; `make test` runs it).")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.http_port, self.dicom_port = free_port(), free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{AET}@127.0.0.1:{self.dicom_port}"

    def start(self) -> "Orthanc":
        storage = self.folder / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "medrdf-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": AET, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "Plugins": [], "ConcurrentJobs": 1,
            "HttpThreadsCount": 4, "DicomThreadsCount": 2, "StableAge": 1, "DicomScpTimeout": 10,
            "DicomModalities": {"medrdf": [CLIENT_AET, "127.0.0.1", 104]},
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "SaveJobs": False,
        }
        path = self.folder / "orthanc.json"
        path.write_text(json.dumps(config))
        log = open(self.folder / "orthanc.log", "wb")
        self.process = subprocess.Popen([orthanc_binary(), str(path)], stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.folder)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"Orthanc exited at start-up: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("Orthanc did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:  # its graceful shutdown waits on idle connections; the data is scratch
                self.process.kill()
                self.process.wait()
        self.process = None

    # REST ----------------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    def get(self, path: str):
        return json.loads(self._request("GET", path))

    def get_bytes(self, path: str) -> bytes:
        return self._request("GET", path)

    def upload(self, *files: Path) -> list[dict]:
        return [json.loads(self._request("POST", "/instances", Path(f).read_bytes())) for f in files]

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def study_id(self, study_uid: str) -> str:
        found = json.loads(self._request("POST", "/tools/lookup", study_uid.encode()))
        return next(item["ID"] for item in found if item["Type"] == "Study")

    def instances_of_study(self, study_uid: str) -> list[dict]:
        return self.get(f"/studies/{self.study_id(study_uid)}/instances?expand")

    def instance_count(self) -> int:
        return int(self.get("/statistics")["CountInstances"])
