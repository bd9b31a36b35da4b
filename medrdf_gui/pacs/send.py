"""Send to PACS: the report PDF and the structured report, into the study of the analysed image.

**The identity guard** (docs/pacs.md, "What is sent, and the de-identification guard"). A result is filed only
where it cannot land in the wrong place:

1. *The result belongs to the image.* The result's pixel hash must equal the hash of the image whose header is
   copied (``Result.image_sha256`` against the study that was loaded from ``study.path``).
2. *The report's identity matches the study's.* A de-identified PDF (no patient name on the page) is never sent
   with an identified header: it would be an anonymous page inside a patient's record. The caller renders the
   PDF identified for an identified image and de-identified for a de-identified one (``report_identified``).
3. *The server's study is the same patient's.* Before anything is stored, a C-FIND asks the PACS for the study
   by its Study Instance UID. It must be there (results go only into a study the PACS already holds, never
   create one), and its Patient ID, Patient Name and birth date must equal the image's. A de-identified copy
   of an identified study keeps its Study Instance UID when de-identification retains UIDs: this check is what
   stops its anonymous result from being filed into the identified original.

Any refusal is a :class:`PacsError` of kind ``guard``; nothing is stored then.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom.sop_class import ComprehensiveSRStorage, EncapsulatedPDFStorage
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as STUDY_ROOT_FIND

from ..audit import SCHEMA
from .cancel import CancelToken
from .documents import build_documents, is_deidentified, read_source_header
from .errors import FAILED, GUARD, PacsError
from .network import Association, Context
from .query import StudyMatch, c_find, query_identifier
from .servers import Server

log = logging.getLogger(__name__)
_OK_STORE = {0x0000, 0xB000, 0xB006, 0xB007}  # success, or stored with a warning (coercion, elements discarded)


@dataclass(frozen=True)
class SendReceipt:
    """What was stored: the study and the two new instances (UIDs, for a check with the PACS)."""

    study_uid: str
    pdf_sop_uid: str
    sr_sop_uid: str
    server: str


def _norm_name(value: Any) -> str:
    return str(value or "").strip().rstrip("^").replace("^^", "^").upper()


def check_local_identity(header: Dataset, result: Any, study: Any, report_identified: bool) -> None:
    """Guard rules 1 and 2 (no network)."""
    if not getattr(result, "image_sha256", ""):
        raise PacsError("This result carries no image hash, so it cannot be tied to a study; it was not sent.", GUARD)
    if study.pixel_sha256() != result.image_sha256:
        raise PacsError("This result was computed on another image than the one shown; it was not sent.", GUARD)
    if is_deidentified(header) and report_identified:
        raise PacsError("The image is de-identified, so its report cannot carry a patient identity; it was not "
                        "sent.", GUARD)
    if not is_deidentified(header) and not report_identified:
        raise PacsError("A de-identified report is never sent into an identified study: the PACS would file a page "
                        "without the patient's name in that patient's record. It was not sent.", GUARD)


def check_server_identity(header: Dataset, match: StudyMatch | None, server: Server) -> None:
    """Guard rule 3: the PACS holds this study, under the same patient."""
    where = f"{server.host}:{server.port}"
    if match is None:
        raise PacsError(f"The study of this image is not on the PACS at {where}: results are sent only into a study "
                        "the PACS already holds. Nothing was sent.", GUARD)
    mine = (str(header.get("PatientID", "") or "").strip(), _norm_name(header.get("PatientName")),
            str(header.get("PatientBirthDate", "") or "").strip())
    theirs = (match.patient_id.strip(), _norm_name(match.patient_name), match.birth_date.strip())
    differs = [what for what, a, b in zip(("patient ID", "patient name", "birth date"), mine, theirs)
               if a != b and not (what == "birth date" and (not a or not b))]
    if differs:
        extra = (" The image is a de-identified copy of a study the PACS holds under a patient identity."
                 if is_deidentified(header) else "")
        raise PacsError(f"The PACS at {where} files this study under a different {' and '.join(differs)} than the "
                        f"image's header, so the result could land in the wrong record.{extra} Nothing was sent.",
                        GUARD)


def _lookup_study(server: Server, calling_aet: str, study_uid: str, timeout: float,
                  cancel: CancelToken | None) -> StudyMatch | None:
    identifier = query_identifier("STUDY", StudyInstanceUID=study_uid, PatientName="", PatientID="", PatientBirthDate="")
    ctx = Association(server, calling_aet, [Context(STUDY_ROOT_FIND)], timeout=timeout, cancel=cancel)
    with ctx:
        answers, _ = c_find(ctx, identifier, limit=10, what="study check")
    matches = [StudyMatch.from_identifier(a) for a in answers if str(a.get("StudyInstanceUID", "")) == study_uid]
    if len({(m.patient_id, _norm_name(m.patient_name)) for m in matches}) > 1:
        raise PacsError(f"The PACS at {server.host}:{server.port} holds this Study Instance UID under more than one "
                        "patient; nothing was sent.", GUARD)
    return matches[0] if matches else None


def send_result(server: Server, calling_aet: str, study: Any, result: Any, pdf: bytes, *, report_identified: bool,
                timeout: float = 30.0, cancel: CancelToken | None = None) -> SendReceipt:
    """Check the guard, then C-STORE the Encapsulated PDF and the SR. Raises PacsError (kind ``guard`` when the
    guard refused; then nothing was stored)."""
    header = read_source_header(study.path)
    check_local_identity(header, result, study, report_identified)
    study_uid = str(header.StudyInstanceUID)
    check_server_identity(header, _lookup_study(server, calling_aet, study_uid, timeout, cancel), server)
    pdf_ds, sr_ds = build_documents(header, result, pdf, identified=report_identified)
    contexts = [Context(EncapsulatedPDFStorage, [ExplicitVRLittleEndian]),
                Context(ComprehensiveSRStorage, [ExplicitVRLittleEndian])]
    where = f"{server.host}:{server.port}"
    stored: list[str] = []
    with Association(server, calling_aet, contexts, timeout=timeout, cancel=cancel) as ctx:
        for what, ds in (("PDF report", pdf_ds), ("structured report", sr_ds)):
            started = time.monotonic()
            with warnings.catch_warnings():  # encoding warnings quote values
                warnings.simplefilter("ignore")
                status = ctx.assoc.send_c_store(ds)
            if not status or "Status" not in status:
                raise ctx.lost(f"storing the {what}", started)
            code = int(status.Status)
            if code not in _OK_STORE:
                done = f" The {stored[0]} was stored." if stored else " Nothing was stored."
                raise PacsError(f"The PACS at {where} refused to store the {what} (status 0x{code:04X}).{done}",
                                FAILED)
            stored.append(what)
    log.info("sent a result (PDF and SR) to %s", where)
    return SendReceipt(study_uid, str(pdf_ds.SOPInstanceUID), str(sr_ds.SOPInstanceUID), server.address)


def audit_entry(result: Any, server: Server, receipt: SendReceipt | None, error: str = "") -> dict[str, Any]:
    """The audit log's line for a send: the image's pixel hash, the model, the server and the outcome. No UID,
    no patient identifier (UIDs identify a study as surely as a name)."""
    return {"schema": SCHEMA, "event": "pacs-send",
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "image_sha256": getattr(result, "image_sha256", "") or None,
            "model": {"name": str(result.model.get("name", "")), "sha256": str(result.model.get("sha256", ""))},
            "verdict": result.verdict, "server": server.address, "stored": ["pdf", "sr"] if receipt else [],
            "error": error[:300] if error else None}


def source_is_deidentified(study: Any) -> bool:
    """Whether the image's header says it was de-identified (the caller then renders the PDF de-identified)."""
    return is_deidentified(read_source_header(study.path))

