"""C-GET of a series (or of every series of a study) into a :class:`~.cache.SeriesStore`.

Why C-GET: the images come back on the association the app opened, so the PACS needs no route back to the
workstation (no port opened in the workstation's firewall, no "move destination" to configure per workstation,
which C-MOVE needs). Most PACS support it; docs/pacs.md says what to ask the PACS administrator for.

The steps, each failure a :class:`PacsError`:

1. C-FIND at IMAGE level lists the series' instances and their SOP classes: the storage contexts to offer, and
   the number of images to expect. None listed: the series (or study) is no longer on the server.
2. C-GET; each image arrives as a C-STORE whose bytes (``encoded_dataset``: the file exactly as the server sent
   it, in the transfer syntax it stored, compressed or not) are written to the staging folder.
3. The series is moved into the store only when every listed image arrived; otherwise it is discarded and the
   error says how many of how many arrived ("partial retrieve"). A cancel aborts the association at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom import uid
from pynetdicom import evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as STUDY_ROOT_FIND
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as STUDY_ROOT_GET

from .cache import SeriesStore, Staging
from .cancel import CancelToken
from .errors import FAILED, NOT_FOUND, PARTIAL, PacsCancelled, PacsError
from .network import Association, Context
from .query import check_uid, find_instances, find_series
from .servers import Server

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int], None]  # images received, images expected
MAX_STORAGE_CONTEXTS = 120  # 128 presentation contexts per association, a few kept for the query models
UNCOMPRESSED = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
                uid.ExplicitVRBigEndian]
COMPRESSED = [uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless, uid.JPEGLosslessSV1, uid.JPEGLSLossless,
              uid.JPEGLSNearLossless, uid.JPEG2000Lossless, uid.JPEG2000, uid.RLELossless]

# PS3.4 C.4.3.1.4 / C.4.3.3: C-GET final statuses
_GET_FAILURES = {0xA701: "it is out of resources (cannot compute the number of matches)",
                 0xA702: "it is out of resources (cannot perform the sub-operations)",
                 0xA900: "the request did not match its SOP class",
                 0xAA00: "none of the images could be sent in a transfer syntax this app accepts"}


@dataclass(frozen=True)
class Retrieved:
    study_uid: str
    series_uid: str
    folder: Path
    count: int
    from_cache: bool = False


def _storage_contexts(sop_classes: list[str]) -> list[Context]:
    """Storage contexts (this app as SCP) for the series' SOP classes: per class one context for the
    uncompressed syntaxes and one per compressed syntax. One syntax per context is what lets the server send each
    image in the syntax it stored (compressed stays compressed, bit for bit); a context offering several would
    let it choose, and servers choose uncompressed and transcode."""
    contexts: list[Context] = []
    for sop_class in dict.fromkeys(c for c in sop_classes if c):
        contexts.append(Context(sop_class, UNCOMPRESSED, scp_role=True))
        room = MAX_STORAGE_CONTEXTS - len(contexts)
        contexts.extend(Context(sop_class, [ts], scp_role=True) for ts in COMPRESSED[:max(0, room)])
        if len(contexts) >= MAX_STORAGE_CONTEXTS:
            break
    return contexts


class _Receiver:
    """The C-STORE handler: writes each arriving image into the staging folder (runs in pynetdicom's thread)."""

    def __init__(self, staging: Staging, numbers: dict[str, int | None], progress: ProgressFn | None,
                 expected: int, cancel: CancelToken | None) -> None:
        self.staging, self.numbers, self.progress, self.expected, self.cancel = staging, numbers, progress, expected, cancel
        self.error: PacsError | None = None

    def __call__(self, event: Any) -> int:
        if self.error is not None or (self.cancel is not None and self.cancel.is_set()):
            return 0xA700  # out of resources: refuse the rest quickly, the association is about to end
        try:
            uid = str(event.request.AffectedSOPInstanceUID)
            self.staging.add(uid, self.numbers.get(uid), event.encoded_dataset())
        except PacsError as exc:
            self.error = exc
            return 0xA700
        except Exception as exc:  # noqa: BLE001 - an exception here would only be logged by pynetdicom
            log.warning("receiving an image failed (%s)", type(exc).__name__)
            self.error = PacsError(f"An image could not be received ({type(exc).__name__}); nothing was kept.", FAILED)
            return 0xC000
        if self.progress is not None:
            self.progress(self.staging.count, max(self.expected, self.staging.count))
        return 0x0000


def retrieve_series(server: Server, calling_aet: str, study_uid: str, series_uid: str, store: SeriesStore, *,
                    timeout: float = 30.0, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                    use_cache: bool = True) -> Retrieved:
    """Retrieve one series into ``store``; returns where it is. Raises PacsError (nothing kept on failure)."""
    study_uid, series_uid = check_uid(study_uid, "Study Instance UID"), check_uid(series_uid, "Series Instance UID")
    if use_cache:
        folder = store.cached(study_uid, series_uid)
        if folder is not None:
            count = len(list(folder.glob("*.dcm")))
            if progress is not None:
                progress(count, count)
            return Retrieved(study_uid, series_uid, folder, count, from_cache=True)
    where = f"{server.host}:{server.port}"
    with Association(server, calling_aet, [Context(STUDY_ROOT_FIND)], timeout=timeout, cancel=cancel) as ctx:
        instances = find_instances(ctx, study_uid, series_uid)
    if not instances:
        raise PacsError(f"The series is no longer on the PACS at {where} (deleted or moved since the query).",
                        NOT_FOUND)
    expected = len({i.sop_instance_uid for i in instances})
    numbers = {i.sop_instance_uid: i.number for i in instances}
    if progress is not None:
        progress(0, expected)
    staging = store.begin(study_uid, series_uid)
    try:
        receiver = _Receiver(staging, numbers, progress, expected, cancel)
        contexts = [Context(STUDY_ROOT_GET), *_storage_contexts([i.sop_class_uid for i in instances])]
        with Association(server, calling_aet, contexts, timeout=timeout, cancel=cancel,
                         handlers=[(evt.EVT_C_STORE, receiver)]) as ctx:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "SERIES"
            identifier.StudyInstanceUID = study_uid
            identifier.SeriesInstanceUID = series_uid
            final = _run_get(ctx, identifier)
        if cancel is not None and cancel.is_set():
            raise PacsCancelled()
        if receiver.error is not None:
            raise receiver.error
        _check_complete(final, staging.count, expected, where)
        folder = staging.commit()
    except BaseException:
        staging.discard()
        raise
    log.info("retrieved a series of %d image(s) from %s", staging.count, where)
    return Retrieved(study_uid, series_uid, folder, staging.count)


def _run_get(ctx: Association, identifier: Dataset) -> Dataset:
    """Send the C-GET and return its final status (a PacsError when the exchange ends without one)."""
    final: Dataset | None = None
    started = time.monotonic()  # of the last answer: a timeout is a silence that long
    for status, _ in ctx.assoc.send_c_get(identifier, STUDY_ROOT_GET):
        if ctx.cancelled:
            ctx.cancel()
            raise PacsCancelled()
        if not status or "Status" not in status:
            raise ctx.lost("retrieve", started)
        started = time.monotonic()
        if int(status.Status) not in (0xFF00, 0xFF01):
            final = status
    if final is None:
        raise ctx.lost("retrieve", started)
    return final


def _check_complete(final: Dataset, received: int, expected: int, where: str) -> None:
    code = int(final.Status)
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    if code == 0xFE00:
        raise PacsError(f"The PACS at {where} cancelled the retrieve; nothing was kept.", FAILED)
    if received >= expected and code in (0x0000, 0xB000):
        return
    if received == 0 and code == 0x0000:
        raise PacsError(f"The series is no longer on the PACS at {where} (it sent no image); nothing was kept.",
                        NOT_FOUND)
    if received == 0 and code in _GET_FAILURES:
        raise PacsError(f"The PACS at {where} refused the retrieve: {_GET_FAILURES[code]}.", FAILED)
    if received == 0 and code not in (0x0000, 0xB000):
        raise PacsError(f"The PACS at {where} refused the retrieve (status 0x{code:04X}); nothing was kept.", FAILED)
    detail = f" (the server reports {failed} failed)" if failed else ""
    raise PacsError(f"Only {received} of the {expected} images of the series arrived{detail}: partial retrieve, "
                    "nothing was kept. Try again, or ask the PACS administrator.", PARTIAL)


def retrieve_study(server: Server, calling_aet: str, study_uid: str, store: SeriesStore, *,
                   series_uids: list[str] | None = None, timeout: float = 30.0,
                   progress: Callable[[int, int, int, int], None] | None = None,
                   cancel: CancelToken | None = None, use_cache: bool = True) -> list[Retrieved]:
    """Retrieve the given series of a study (default: all of them), one after another; each series is kept
    whole or not at all. ``progress(series done, series total, images done, images expected)``."""
    study_uid = check_uid(study_uid, "Study Instance UID")
    if series_uids is None:
        found = find_series(server, calling_aet, study_uid, timeout=timeout, cancel=cancel)
        if not found:
            raise PacsError(f"The study is not (or no longer) on the PACS at {server.host}:{server.port}.", NOT_FOUND)
        series_uids = [s.series_uid for s in found]
    results = []
    for index, uid in enumerate(series_uids):
        def series_progress(done: int, total: int, index: int = index) -> None:
            if progress is not None:
                progress(index, len(series_uids), done, total)

        results.append(retrieve_series(server, calling_aet, study_uid, uid, store, timeout=timeout,
                                       progress=series_progress, cancel=cancel, use_cache=use_cache))
    return results
