"""The pacs package against a real Orthanc (tests/orthanc.py): echo, find with each filter, get of a multi-frame
and a compressed series with the pixel data equal to the stored files, the cache (atomic, capped, evicting),
and each failure a user meets, as one sentence of the right kind."""

from __future__ import annotations

import errno
import logging
import socket
import subprocess
import threading
from pathlib import Path

import pydicom
import pytest

from medrdf_gui.pacs import (CancelToken, PacsCancelled, PacsError, SeriesStore, Server, StudyQuery, echo, find_series,
                             find_studies, parse_address, retrieve_series, retrieve_study)
from medrdf_gui.pacs import cache as cache_module
from medrdf_gui.pacs import retrieve as retrieve_module
from medrdf_gui.pacs.errors import ABORTED, CACHE, GUARD, INVALID, NOT_FOUND, PARTIAL, REJECTED, TIMEOUT, UNREACHABLE
from medrdf_gui.pacs.servers import PacsConfig, load_config, save_config
from medrdf_gui.paths import data_dir
from orthanc import CLIENT_AET

DATA = data_dir()

T = 10.0  # seconds: every wait in these tests is bounded


def header(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(DATA / "dicom" / name)


def server_of(orthanc) -> Server:
    return parse_address(orthanc.address)


def uids(name: str) -> tuple[str, str]:
    ds = header(name)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)


def staged_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith((".staging-", ".trash-"))] if root.exists() else []


# Echo and the failures of an association -----------------------------------------------------------------------------

def test_echo(orthanc) -> None:
    assert 0 < echo(server_of(orthanc), CLIENT_AET, timeout=T) < T


def test_wrong_called_ae_title_is_rejected_with_the_reason(orthanc) -> None:
    wrong = Server("NOT_ORTHANC", "127.0.0.1", orthanc.dicom_port)
    with pytest.raises(PacsError) as info:
        echo(wrong, CLIENT_AET, timeout=T)
    assert info.value.kind == REJECTED
    assert "does not know the called AE title 'NOT_ORTHANC'" in str(info.value)


def test_server_down_is_connection_refused() -> None:
    from orthanc import free_port

    with pytest.raises(PacsError) as info:
        echo(Server("ORTHANC", "127.0.0.1", free_port()), CLIENT_AET, timeout=T)
    assert info.value.kind == UNREACHABLE
    assert "connection refused" in str(info.value)


def test_unknown_host_is_named() -> None:
    with pytest.raises(PacsError) as info:
        echo(Server("ORTHANC", "no-such-host.invalid", 104), CLIENT_AET, timeout=T)
    assert info.value.kind == UNREACHABLE and "cannot be resolved" in str(info.value)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        with pytest.raises(PacsError) as info:
            echo(Server("ORTHANC", "127.0.0.1", port), CLIENT_AET, timeout=1.0)
    assert info.value.kind == TIMEOUT and "within 1 s" in str(info.value)


def test_unregistered_calling_ae_title_cannot_query(orthanc) -> None:
    """Orthanc lets unknown AE titles echo but not query: the user is told, not shown an empty list."""
    with pytest.raises(PacsError) as info:
        find_studies(server_of(orthanc), "STRANGER", StudyQuery(), timeout=T)
    assert info.value.kind in (REJECTED, ABORTED, "failed")
    assert "'STRANGER'" in str(info.value) and "register" in str(info.value)


@pytest.mark.parametrize("text", ["ORTHANC@host", "@host:104", "A\\B@host:104", "TOO_LONG_AE_TITLE_X@h:104",
                                  "X@host:70000", "X@host:port"])
def test_malformed_addresses_are_refused(text: str) -> None:
    with pytest.raises(PacsError) as info:
        parse_address(text)
    assert info.value.kind == INVALID


def test_config_round_trip_and_names(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    config = PacsConfig(calling_aet="WS12").with_server(Server("PACS1", "pacs.example", 104, name="main"))
    save_config(config, path)
    back = load_config(path)
    assert back.calling_aet == "WS12" and back.resolve("MAIN") == Server("PACS1", "pacs.example", 104, name="main")
    assert back.resolve("X@h:11112") == Server("X", "h", 11112)
    path.write_text("{not json")
    with pytest.raises(PacsError, match="damaged"):
        load_config(path)
    assert load_config(tmp_path / "absent.json").servers == []


# Find ----------------------------------------------------------------------------------------------------------------

def study_uids(orthanc, **query) -> set[str]:
    return {m.study_uid for m in find_studies(server_of(orthanc), CLIENT_AET, StudyQuery(**query), timeout=T).matches}


def test_find_each_filter(orthanc) -> None:
    us, ct = uids("us_multiframe_jpeg_ybr422_30f.dcm")[0], uids("ct_small_uncompressed.dcm")[0]
    sc, cr = uids("sc_rgb_rle_2frame.dcm")[0], uids("xr_cr_mono1_modality_lut_jpeg_lossless.dcm")[0]
    mr = uids("mr_small_jpegls_lossless.dcm")[0]
    everything = study_uids(orthanc)
    assert {us, ct, sc, cr, mr} <= everything and len(everything) == 7
    assert study_uids(orthanc, modality="US") == {us}
    assert study_uids(orthanc, patient_id="1CT1") == {ct}
    assert study_uids(orthanc, patient_name="Lestrade*") == {sc}
    assert study_uids(orthanc, patient_name="compressedsamples^?R1") == {mr}  # case-insensitive, one-letter wildcard
    assert study_uids(orthanc, accession_number="MODALITYLUT-001") == {cr}
    assert study_uids(orthanc, date_from="2016-05-03", date_to="2017-01-01") == {us, sc}
    assert study_uids(orthanc, date_from="2004-01-01", date_to="2004-01-31") == {ct}
    assert study_uids(orthanc, date_from="20170102") == {cr}  # open-ended range
    assert study_uids(orthanc, patient_name="Nobody*") == set()


def test_find_answers_carry_what_the_dialog_shows(orthanc) -> None:
    (match,) = find_studies(server_of(orthanc), CLIENT_AET, StudyQuery(patient_name="Lestrade*"), timeout=T).matches
    assert match.patient_name == "Lestrade^G" and match.patient_id == "ID1" and match.study_date == "20170101"
    assert match.modalities == ("OT",) and match.instance_count == 2 and match.series_count == 1
    assert match.to_dict()["StudyInstanceUID"] == match.study_uid


def test_find_limit_truncates(orthanc) -> None:
    found = find_studies(server_of(orthanc), CLIENT_AET, StudyQuery(), timeout=T, limit=2)
    assert len(found.matches) == 2 and found.truncated


@pytest.mark.parametrize("query", [StudyQuery(date_from="2020-13-01"), StudyQuery(date_from="2020-02-02",
                                   date_to="2020-01-01"), StudyQuery(modality="C T"), StudyQuery(study_uid="1.2.abc")])
def test_malformed_queries_are_refused_before_connecting(query: StudyQuery) -> None:
    with pytest.raises(PacsError) as info:
        find_studies(Server("X", "127.0.0.1", 1), CLIENT_AET, query, timeout=T)
    assert info.value.kind == INVALID


# Retrieve ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("names", [("mr_enhanced_multiframe_10f.dcm",), ("us_multiframe_jpeg_ybr422_30f.dcm",),
                                   ("sc_rgb_jpeg_baseline_ybr.dcm", "sc_rgb_rle_2frame.dcm"),
                                   ("mr_small_jpegls_lossless.dcm",)],
                         ids=["multiframe-native", "multiframe-jpeg", "two-compressed", "jpeg-ls"])
def test_get_series_gives_the_stored_pixel_data(orthanc, tmp_path: Path, names: tuple[str, ...]) -> None:
    study_uid, series_uid = uids(names[0])
    store = SeriesStore(tmp_path / "cache")
    seen: list[tuple[int, int]] = []
    got = retrieve_series(server_of(orthanc), CLIENT_AET, study_uid, series_uid, store, timeout=T,
                          progress=lambda d, t: seen.append((d, t)))
    assert got.count == len(names) and not got.from_cache and seen[-1] == (len(names), len(names))
    received = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(p) for p in sorted(got.folder.glob("*.dcm")))}
    for name in names:
        original = header(name)
        copy = received[str(original.SOPInstanceUID)]
        assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID  # compressed stays compressed
        assert copy.PixelData == original.PixelData
    assert staged_leftovers(store.root) == []
    again = retrieve_series(server_of(orthanc), CLIENT_AET, study_uid, series_uid, store, timeout=T)
    assert again.from_cache and again.folder == got.folder


def test_get_study_and_open_it_with_the_loader(orthanc, tmp_path: Path) -> None:
    from medrdf_gui.imaging import load_study

    study_uid, _ = uids("us_multiframe_jpeg_ybr422_30f.dcm")
    (got,) = retrieve_study(server_of(orthanc), CLIENT_AET, study_uid, SeriesStore(tmp_path), timeout=T)
    (path,) = got.folder.glob("*.dcm")
    assert load_study(path).frame_count == 30


def test_vanished_study(fresh_orthanc, tmp_path: Path) -> None:
    study_uid, series_uid = uids("ct_small_uncompressed.dcm")
    server = server_of(fresh_orthanc)
    assert study_uid in {m.study_uid for m in find_studies(server, CLIENT_AET, StudyQuery(), timeout=T).matches}
    fresh_orthanc.delete(f"/studies/{fresh_orthanc.study_id(study_uid)}")
    store = SeriesStore(tmp_path / "cache")
    with pytest.raises(PacsError) as info:
        retrieve_series(server, CLIENT_AET, study_uid, series_uid, store, timeout=T)
    assert info.value.kind == NOT_FOUND and "no longer on the PACS" in str(info.value)
    with pytest.raises(PacsError) as info:
        retrieve_study(server, CLIENT_AET, study_uid, store, timeout=T)
    assert info.value.kind == NOT_FOUND
    assert not any(store.root.rglob("*.dcm")) and staged_leftovers(store.root) == []


def test_partial_retrieve_keeps_nothing(fresh_orthanc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image deleted on the server between the listing and the C-GET: one of two arrives."""
    study_uid, series_uid = uids("sc_rgb_rle_2frame.dcm")
    victim = str(header("sc_rgb_rle_2frame.dcm").SOPInstanceUID)
    real = retrieve_module.find_instances

    def listing_then_delete(*args, **kwargs):
        found = real(*args, **kwargs)
        ids = [i["ID"] for i in fresh_orthanc.instances_of_study(study_uid) if i["MainDicomTags"]["SOPInstanceUID"] == victim]
        fresh_orthanc.delete(f"/instances/{ids[0]}")
        return found

    monkeypatch.setattr(retrieve_module, "find_instances", listing_then_delete)
    store = SeriesStore(tmp_path / "cache")
    with pytest.raises(PacsError) as info:
        retrieve_series(server_of(fresh_orthanc), CLIENT_AET, study_uid, series_uid, store, timeout=T)
    assert info.value.kind == PARTIAL and "Only 1 of the 2 images" in str(info.value)
    assert not any(store.root.rglob("*.dcm")) and staged_leftovers(store.root) == []


def test_cancel_keeps_nothing(orthanc, tmp_path: Path) -> None:
    study_uid, series_uid = uids("sc_rgb_rle_2frame.dcm")
    token = CancelToken()
    store = SeriesStore(tmp_path / "cache")

    def progress(done: int, total: int) -> None:
        if done >= 1:
            token.cancel()  # after the first image arrived: aborts the association from the handler's thread

    with pytest.raises(PacsCancelled):
        retrieve_series(server_of(orthanc), CLIENT_AET, study_uid, series_uid, store, timeout=T, progress=progress,
                        cancel=token)
    assert not any(store.root.rglob("*.dcm")) and staged_leftovers(store.root) == []
    assert no_association_thread_left()


def no_association_thread_left(wait_s: float = 3.0) -> bool:
    import time

    from pynetdicom.association import Association

    deadline = time.monotonic() + wait_s
    while any(isinstance(t, Association) and t.is_alive() for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_cache_evicts_the_least_recently_used_series(orthanc, tmp_path: Path) -> None:
    server = server_of(orthanc)
    us = uids("us_multiframe_jpeg_ybr422_30f.dcm")
    mr = uids("mr_enhanced_multiframe_10f.dcm")
    ct = uids("ct_small_uncompressed.dcm")
    limit = (DATA / "dicom" / "us_multiframe_jpeg_ybr422_30f.dcm").stat().st_size + 60_000
    store = SeriesStore(tmp_path / "cache", limit_bytes=limit)
    first = retrieve_series(server, CLIENT_AET, *ct, store, timeout=T)
    retrieve_series(server, CLIENT_AET, *us, store, timeout=T)  # does not fit beside the CT... or does
    assert store.usage() <= limit
    retrieve_series(server, CLIENT_AET, *mr, store, timeout=T)  # 82 KiB more: the oldest series must go
    assert store.usage() <= limit
    assert not first.folder.exists() or not store.series_dir(*us).exists()
    assert store.series_dir(*mr).is_dir()


def test_series_larger_than_the_cache(orthanc, tmp_path: Path) -> None:
    store = SeriesStore(tmp_path / "cache", limit_bytes=50_000)
    with pytest.raises(PacsError) as info:
        retrieve_series(server_of(orthanc), CLIENT_AET, *uids("us_multiframe_jpeg_ybr422_30f.dcm"), store, timeout=T)
    assert info.value.kind == CACHE and "larger than the whole cache" in str(info.value)
    assert not any(store.root.rglob("*.dcm")) and staged_leftovers(store.root) == []


def _mount_tmpfs(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("failure", ["full", "read-only"])
def test_full_or_read_only_cache(orthanc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """On a real tmpfs (64 KiB, or mounted read-only) where this machine lets root mount one; elsewhere the same
    OSError is injected into the file writes."""
    root = tmp_path / "mnt"
    mounted = _mount_tmpfs(root, "size=64k" if failure == "full" else "ro,size=64k")
    if not mounted:
        code = errno.ENOSPC if failure == "full" else errno.EROFS
        root.mkdir(exist_ok=True)

        def broken(path: Path, data: bytes) -> None:
            raise OSError(code, errno.errorcode[code])

        monkeypatch.setattr(cache_module, "_write_file", broken)
        if failure == "read-only":
            monkeypatch.setattr(cache_module.tempfile, "mkdtemp", lambda **kw: broken(Path("."), b""))
    try:
        store = SeriesStore(root / "cache" if failure == "full" else root)
        with pytest.raises(PacsError) as info:
            retrieve_series(server_of(orthanc), CLIENT_AET, *uids("us_multiframe_jpeg_ybr422_30f.dcm"), store,
                            timeout=T)
        assert info.value.kind == CACHE
        assert ("is full" if failure == "full" else "read-only") in str(info.value)
        assert not any(root.rglob("*.dcm")) and staged_leftovers(root) == []
        # the app stays usable: the same store takes a small series once there is room / right after
        if failure == "full":
            small = retrieve_series(server_of(orthanc), CLIENT_AET, *uids("mr_small_jpegls_lossless.dcm"), store,
                                    timeout=T)
            assert small.count == 1
    finally:
        if mounted:
            subprocess.run(["umount", str(root)], check=False)


def test_cache_folder_that_is_a_file(orthanc, tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    with pytest.raises(PacsError) as info:
        retrieve_series(server_of(orthanc), CLIENT_AET, *uids("ct_small_uncompressed.dcm"), SeriesStore(blocker),
                        timeout=T)
    assert info.value.kind == CACHE and "not a folder" in str(info.value)


def test_series_query(orthanc) -> None:
    study_uid, series_uid = uids("sc_rgb_rle_2frame.dcm")
    (series,) = find_series(server_of(orthanc), CLIENT_AET, study_uid, timeout=T)
    assert series.series_uid == series_uid and series.instance_count == 2 and series.modality == "OT"


def test_no_patient_name_reaches_a_log(orthanc, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """pynetdicom logs query identifiers at INFO: with every logger at DEBUG, no name or ID reaches a record."""
    from pynetdicom import debug_logger

    caplog.set_level(logging.DEBUG)
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG)
    try:
        debug_logger()  # pynetdicom's own switch: every PDU and dataset, element by element
        caplog.set_level(logging.DEBUG)
        server = server_of(orthanc)
        find_studies(server, CLIENT_AET, StudyQuery(patient_name="Lestrade*"), timeout=T)
        retrieve_series(server, CLIENT_AET, *uids("sc_rgb_rle_2frame.dcm"), SeriesStore(tmp_path), timeout=T)
        with pytest.raises(PacsError):
            find_studies(Server("WRONG", "127.0.0.1", orthanc.dicom_port), CLIENT_AET,
                         StudyQuery(patient_name="Lestrade*"), timeout=T)
    finally:
        logger = logging.getLogger("pynetdicom")
        for handler in list(logger.handlers):
            if not isinstance(handler, logging.NullHandler):
                logger.removeHandler(handler)
        logger.setLevel(logging.WARNING)
    text = caplog.text + "\n".join(str(r.msg) for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the check would prove nothing"
    for secret in ("Lestrade", "ID1"):
        assert secret not in text


def test_pacs_package_imports_without_qt() -> None:
    import sys

    code = ("import sys\nfor name in ('PySide6', 'shiboken6'):\n    sys.modules[name] = None\n"
            "import medrdf_gui.pacs, medrdf_gui.pacs.send\nprint('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
