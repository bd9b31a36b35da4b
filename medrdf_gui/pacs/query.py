"""C-ECHO and C-FIND: test a connection, find studies (patient ID, patient name with wildcards, study date range,
modality, accession number), then the series and instances of one study.

Every query runs in the Study Root information model, which every PACS supports. Answers are plain frozen
dataclasses; their ``to_dict`` uses DICOM keywords (``StudyInstanceUID``, ``PatientName`` …), which is what
``medrdf pacs find --json`` prints, one object per study.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as STUDY_ROOT_FIND
from pynetdicom.sop_class import Verification

from .cancel import CancelToken
from .errors import FAILED, INVALID, PacsError
from .network import Association, Context
from .servers import Server

MAX_RESULTS = 500  # a wildcard on a hospital PACS can match hundreds of thousands of studies
_DATE = re.compile(r"^\d{8}$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _date(text: str, what: str) -> str:
    value = str(text or "").strip().replace("-", "")
    if value and (not _DATE.match(value) or not _valid_date(value)):
        raise PacsError(f"The {what} '{text}' is not a date (YYYY-MM-DD or YYYYMMDD).", INVALID)
    return value


def _valid_date(value: str) -> bool:
    try:
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return False
    return True


def check_uid(text: str, what: str = "UID") -> str:
    value = str(text or "").strip()
    if not value or len(value) > 64 or not _UID.match(value):
        raise PacsError(f"'{value[:70]}' is not a valid DICOM {what} (digits and dots, at most 64).", INVALID)
    return value


def _text_field(text: str, what: str, limit: int) -> str:
    value = str(text or "").strip()
    if "\\" in value or len(value) > limit or any(ord(c) < 32 for c in value):
        raise PacsError(f"The {what} is not valid (at most {limit} characters, no backslash).", INVALID)
    return value


@dataclass(frozen=True)
class StudyQuery:
    """What to look for; empty fields match anything. ``patient_name`` takes DICOM wildcards ``*`` and ``?``
    (most servers also match ``SMITH`` as ``SMITH*``: PS3.4 C.2.2.2.4 leaves that to them)."""

    patient_id: str = ""
    patient_name: str = ""
    date_from: str = ""  # YYYYMMDD or YYYY-MM-DD
    date_to: str = ""
    modality: str = ""
    accession_number: str = ""
    study_uid: str = ""

    def validated(self) -> "StudyQuery":
        modality = _text_field(self.modality, "modality", 16).upper()
        if modality and not re.match(r"^[A-Z0-9_]{1,16}$", modality):
            raise PacsError(f"The modality '{modality}' is not valid (e.g. CR, DX, CT, MR).", INVALID)
        q = StudyQuery(patient_id=_text_field(self.patient_id, "patient ID", 64),
                       patient_name=_text_field(self.patient_name, "patient name", 64 * 5),
                       date_from=_date(self.date_from, "start date"), date_to=_date(self.date_to, "end date"),
                       modality=modality, accession_number=_text_field(self.accession_number, "accession number", 16),
                       study_uid=check_uid(self.study_uid, "Study Instance UID") if self.study_uid.strip() else "")
        if q.date_from and q.date_to and q.date_from > q.date_to:
            raise PacsError("The start date is after the end date.", INVALID)
        return q

    def study_date(self) -> str:
        """The DICOM range matching value: ``A-B``, ``A-``, ``-B``, or one date."""
        if self.date_from and self.date_to:
            return self.date_from if self.date_from == self.date_to else f"{self.date_from}-{self.date_to}"
        if self.date_from:
            return f"{self.date_from}-"
        if self.date_to:
            return f"-{self.date_to}"
        return ""


def _str(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StudyMatch:
    study_uid: str
    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    study_time: str
    description: str
    accession_number: str
    modalities: tuple[str, ...]
    series_count: int | None
    instance_count: int | None

    @classmethod
    def from_identifier(cls, ds: Dataset) -> "StudyMatch":
        modalities = tuple(m for m in _str(ds, "ModalitiesInStudy").split("\\") if m)
        return cls(study_uid=_str(ds, "StudyInstanceUID"), patient_name=_str(ds, "PatientName"),
                   patient_id=_str(ds, "PatientID"), birth_date=_str(ds, "PatientBirthDate"),
                   study_date=_str(ds, "StudyDate"), study_time=_str(ds, "StudyTime"),
                   description=_str(ds, "StudyDescription"), accession_number=_str(ds, "AccessionNumber"),
                   modalities=modalities, series_count=_int(ds, "NumberOfStudyRelatedSeries"),
                   instance_count=_int(ds, "NumberOfStudyRelatedInstances"))

    def to_dict(self) -> dict[str, Any]:
        return {"StudyInstanceUID": self.study_uid, "PatientName": self.patient_name, "PatientID": self.patient_id,
                "PatientBirthDate": self.birth_date, "StudyDate": self.study_date, "StudyTime": self.study_time,
                "StudyDescription": self.description, "AccessionNumber": self.accession_number,
                "ModalitiesInStudy": list(self.modalities), "NumberOfStudyRelatedSeries": self.series_count,
                "NumberOfStudyRelatedInstances": self.instance_count}


@dataclass(frozen=True)
class SeriesMatch:
    study_uid: str
    series_uid: str
    modality: str
    number: int | None
    description: str
    body_part: str
    instance_count: int | None

    @classmethod
    def from_identifier(cls, ds: Dataset) -> "SeriesMatch":
        return cls(study_uid=_str(ds, "StudyInstanceUID"), series_uid=_str(ds, "SeriesInstanceUID"),
                   modality=_str(ds, "Modality"), number=_int(ds, "SeriesNumber"),
                   description=_str(ds, "SeriesDescription"), body_part=_str(ds, "BodyPartExamined"),
                   instance_count=_int(ds, "NumberOfSeriesRelatedInstances"))

    def to_dict(self) -> dict[str, Any]:
        return {"StudyInstanceUID": self.study_uid, "SeriesInstanceUID": self.series_uid, "Modality": self.modality,
                "SeriesNumber": self.number, "SeriesDescription": self.description,
                "BodyPartExamined": self.body_part, "NumberOfSeriesRelatedInstances": self.instance_count}


@dataclass(frozen=True)
class InstanceMatch:
    sop_instance_uid: str
    sop_class_uid: str
    number: int | None


@dataclass
class FindResult:
    """The matches, and whether the server had more than ``limit`` (the rest were not fetched)."""

    matches: list = field(default_factory=list)
    truncated: bool = False


def echo(server: Server, calling_aet: str, *, timeout: float = 30.0, cancel: CancelToken | None = None) -> float:
    """C-ECHO; returns the round trip in seconds (association included). Raises PacsError."""
    started = time.monotonic()
    with Association(server, calling_aet, [Context(Verification)], timeout=timeout, cancel=cancel) as ctx:
        status = ctx.assoc.send_c_echo()
        if not status or "Status" not in status:
            raise PacsError(f"The PACS at {server.host}:{server.port} did not answer the echo within {timeout:g} s.",
                            "timeout")
        if status.Status != 0:
            raise PacsError(f"The PACS at {server.host}:{server.port} answered the echo with status "
                            f"0x{int(status.Status):04X}.", FAILED)
    return time.monotonic() - started


def query_identifier(level: str, **values: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names with accents match and come back intact
    ds.QueryRetrieveLevel = level
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def c_find(assoc_ctx: Association, identifier: Dataset, *, limit: int, what: str) -> tuple[list[Dataset], bool]:
    """Run one C-FIND on an open association; (identifiers, truncated). Raises PacsError."""
    server = assoc_ctx.server
    found: list[Dataset] = []
    started = time.monotonic()  # of the last answer: a timeout is a silence that long
    for status, answer in assoc_ctx.assoc.send_c_find(identifier, STUDY_ROOT_FIND):
        if assoc_ctx.cancelled:
            assoc_ctx.cancel()
            raise assoc_ctx.lost(what, started)
        if not status or "Status" not in status:
            raise assoc_ctx.lost(what, started)
        code = int(status.Status)
        started = time.monotonic()
        if code in (0xFF00, 0xFF01):
            if answer is not None:
                found.append(answer)
            if len(found) >= limit:
                assoc_ctx.assoc.abort()  # stop the server sending the rest
                return found, True
        elif code == 0x0000:
            return found, False
        elif code == 0xFE00:
            return found, True
        else:
            raise PacsError(f"The PACS at {server.host}:{server.port} refused the {what} (status 0x{code:04X}).",
                            FAILED)
    raise assoc_ctx.lost(what, started)


def find_studies(server: Server, calling_aet: str, query: StudyQuery, *, timeout: float = 30.0,
                 limit: int = MAX_RESULTS, cancel: CancelToken | None = None) -> FindResult:
    """Studies matching ``query`` (C-FIND at STUDY level), newest first."""
    q = query.validated()
    identifier = query_identifier(
        "STUDY", PatientName=q.patient_name, PatientID=q.patient_id, PatientBirthDate="", StudyDate=q.study_date(),
        StudyTime="", StudyDescription="", AccessionNumber=q.accession_number, ModalitiesInStudy=q.modality,
        NumberOfStudyRelatedSeries="", NumberOfStudyRelatedInstances="", StudyInstanceUID=q.study_uid)
    ctx = Association(server, calling_aet, [Context(STUDY_ROOT_FIND)], timeout=timeout, cancel=cancel)
    with ctx:
        answers, truncated = c_find(ctx, identifier, limit=limit, what="study query")
    matches = [StudyMatch.from_identifier(a) for a in answers]
    if q.modality:  # a server that ignores ModalitiesInStudy returns every study: filter what it sent
        matches = [m for m in matches if not m.modalities or q.modality in m.modalities]
    matches.sort(key=lambda m: (m.study_date, m.study_time), reverse=True)
    return FindResult(matches, truncated)


def find_series(server: Server, calling_aet: str, study_uid: str, *, timeout: float = 30.0,
                cancel: CancelToken | None = None) -> list[SeriesMatch]:
    """The series of one study (C-FIND at SERIES level), by series number."""
    uid = check_uid(study_uid, "Study Instance UID")
    identifier = query_identifier("SERIES", StudyInstanceUID=uid, SeriesInstanceUID="", Modality="", SeriesNumber="",
                             SeriesDescription="", BodyPartExamined="", NumberOfSeriesRelatedInstances="")
    ctx = Association(server, calling_aet, [Context(STUDY_ROOT_FIND)], timeout=timeout, cancel=cancel)
    with ctx:
        answers, _ = c_find(ctx, identifier, limit=10_000, what="series query")
    series = [SeriesMatch.from_identifier(a) for a in answers]
    return sorted(series, key=lambda s: (s.number is None, s.number or 0, s.series_uid))


def find_instances(ctx: Association, study_uid: str, series_uid: str) -> list[InstanceMatch]:
    """The instances of one series (C-FIND at IMAGE level) on an open association."""
    identifier = query_identifier("IMAGE", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid, SOPInstanceUID="",
                             SOPClassUID="", InstanceNumber="")
    answers, _ = c_find(ctx, identifier, limit=100_000, what="image query")
    return [InstanceMatch(_str(a, "SOPInstanceUID"), _str(a, "SOPClassUID"), _int(a, "InstanceNumber"))
            for a in answers]
