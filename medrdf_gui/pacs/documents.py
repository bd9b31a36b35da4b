"""The two DICOM objects a result is filed as: the PDF report as an Encapsulated PDF, and a Comprehensive SR
(highdicom) with the diagnosis, the flags, RM, n, the p-value, the settings and the model's name and sha256.

Both go into the *same* study as the analysed image: Study Instance UID and the patient and study modules are
copied from its header; each gets a new series and SOP Instance UID. Nothing is computed here: every number is
read from the engine's :class:`~medrdf_gui.robust.Result`.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
from highdicom.sr import (CodeContentItem, CodedConcept, ComprehensiveSR, ContainerContentItem, ImageContentItem,
                          NumContentItem, RelationshipTypeValues, TextContentItem)
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .._version import __version__
from .errors import INVALID, PacsError

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
MANUFACTURER = "MedRDF Viewer (research software, not a medical device)"
SCHEME = "99MEDRDF"  # a private coding scheme (PS3.16 8.2: designators starting with 99)
PDF_SERIES_NUMBER, SR_SERIES_NUMBER = 9901, 9902
_CONTAINS = RelationshipTypeValues.CONTAINS
_HAS_PROPERTIES = RelationshipTypeValues.HAS_PROPERTIES


def _code(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning[:64])


NO_UNITS = CodedConcept("1", "UCUM", "no units")
COPIES = CodedConcept("{copies}", "UCUM", "copies")


def read_source_header(path: str | Path) -> Dataset:
    """The analysed image's header (no pixel data); PacsError when it is no DICOM file with a study to file into."""
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - any reader failure is the same sentence
        raise PacsError(f"{Path(path).name} cannot be read as DICOM: results go back only to DICOM studies.",
                        INVALID) from None
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not str(ds.get(keyword, "") or "").strip():
            raise PacsError(f"{Path(path).name} has no {keyword}: results go back only into a DICOM study, and this "
                            "image does not name one (a PNG or a stripped file).", INVALID)
    return ds


def is_deidentified(ds: Dataset) -> bool:
    """The header says its patient identity was removed (PS3.15 E.1.1: Patient Identity Removed YES, or a
    de-identification method recorded)."""
    return (str(ds.get("PatientIdentityRemoved", "")).strip().upper() == "YES"
            or bool(str(ds.get("DeidentificationMethod", "")).strip())
            or bool(ds.get("DeidentificationMethodCodeSequence")))


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _copy_identity(target: Dataset, source: Dataset) -> None:
    """De-identification attributes travel with the identity they describe."""
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence"):
        if keyword in source:
            setattr(target, keyword, source.data_element(keyword).value)


class EncapsulatedPDF(hd.SOPClass):
    """Encapsulated PDF IOD (PS3.3 A.45.1): the report PDF, filed in the source image's study."""

    def __init__(self, source: Dataset, pdf: bytes, *, series_uid: str, sop_uid: str, identified: bool,
                 title: str = "MedRDF robust diagnosis report") -> None:
        now = _now()
        super().__init__(study_instance_uid=source.StudyInstanceUID, series_instance_uid=series_uid,
                         series_number=PDF_SERIES_NUMBER, sop_instance_uid=sop_uid,
                         sop_class_uid=ENCAPSULATED_PDF_STORAGE, instance_number=1, modality="DOC",
                         manufacturer=MANUFACTURER, transfer_syntax_uid=ExplicitVRLittleEndian,
                         series_description="MedRDF report (PDF)", software_versions=__version__,
                         content_date=now.date(), content_time=now.time().replace(microsecond=0))
        self.copy_patient_and_study_information(source)
        _copy_identity(self, source)
        self.ConversionType = "WSD"  # workstation
        self.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
        self.BurnedInAnnotation = "YES" if identified else "NO"  # the page names the patient only when identified
        self.DocumentTitle = title
        self.ConceptNameCodeSequence = [CodedConcept("18748-4", "LN", "Diagnostic imaging report")]
        self.MIMETypeOfEncapsulatedDocument = "application/pdf"
        data = bytes(pdf)
        self.EncapsulatedDocumentLength = len(data)
        self.EncapsulatedDocument = data + (b"\0" if len(data) % 2 else b"")


def _text(name: CodedConcept, value: str) -> TextContentItem:
    return TextContentItem(name=name, value=str(value)[:10_000] or "-", relationship_type=_CONTAINS)


def _num(name: CodedConcept, value: float, unit: CodedConcept) -> NumContentItem:
    return NumContentItem(name=name, value=float(value), unit=unit, relationship_type=_CONTAINS)


def sr_content(result: Any, source: Dataset) -> ContainerContentItem:
    """The SR's content tree: one container with the result's facts, each a coded item."""
    flag = "ACCEPT" if result.verdict == "accept" else "RE-EVALUATE"
    items: list[Any] = [
        _text(CodedConcept("111001", "DCM", "Algorithm Name"), f"MedRDF with model {result.model.get('name', '')}"),
        _text(CodedConcept("111003", "DCM", "Algorithm Version"), f"medrdf-viewer {__version__}"),
        _text(_code("model-sha256", "Model weights SHA-256"), result.model.get("sha256", "")),
        CodeContentItem(name=CodedConcept("121071", "DCM", "Finding"),
                        value=_code(result.diagnosis or "abstained", result.display(result.diagnosis)),
                        relationship_type=_CONTAINS),
        _text(_code("verdict", "MedRDF flag"), f"{flag}: {result.reason()}"),
        _text(_code("rm-verdict", "RM rule verdict"), result.rm_verdict),
        _num(_code("rm", "Robust Metric (RM)"), result.rm, NO_UNITS),
        _num(_code("rm-threshold", "RM threshold"), result.rm_threshold, NO_UNITS),
        _num(_code("n", "Noisy copies, cap"), result.n, COPIES),
        _num(_code("n-used", "Noisy copies drawn"), result.n_used or result.n, COPIES),
        _num(_code("p-value", "Binomial test p-value"), result.p_value, NO_UNITS),
        _text(_code("votes", "Vote counts"), json.dumps(result.counts, sort_keys=True)),
        _text(_code("base-diagnosis", "Undefended model diagnosis"), result.display(result.base_diagnosis)),
        _text(_code("settings", "MedRDF settings"), json.dumps(result.settings, sort_keys=True, default=str)),
        _text(_code("scope", "Scope check"), result.scope_summary()),
    ]
    items += [_text(_code("alert", "Alert"), f"{a.code}: {a.message}") for a in result.alerts]
    if result.protection:
        items.append(_text(_code("protection", "Protection notice"), result.protection))
    items.append(_text(_code("disclaimer", "Intended use"),
                       "Research software, not a medical device: never use for clinical diagnosis."))
    items.append(ImageContentItem(name=CodedConcept("121112", "DCM", "Source of Measurement"),
                                  referenced_sop_class_uid=source.SOPClassUID,
                                  referenced_sop_instance_uid=source.SOPInstanceUID,
                                  relationship_type=_CONTAINS))
    container = ContainerContentItem(name=CodedConcept("18748-4", "LN", "Diagnostic imaging report"),
                                     template_id=None)
    container.ContentSequence = items
    return container


def build_sr(source: Dataset, result: Any, *, series_uid: str, sop_uid: str) -> Dataset:
    sr = ComprehensiveSR(evidence=[source], content=sr_content(result, source), series_instance_uid=series_uid,
                         series_number=SR_SERIES_NUMBER, sop_instance_uid=sop_uid, instance_number=1,
                         manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
                         series_description="MedRDF result (structured report)")
    _copy_identity(sr, source)
    return sr


def build_documents(source: Dataset, result: Any, pdf: bytes, *, identified: bool) -> tuple[Dataset, Dataset]:
    """(Encapsulated PDF, Comprehensive SR), each in a new series of the source's study, encoded in UTF-8.

    highdicom's and pydicom's warnings are silenced here: they quote header values (a patient name that "is
    unlikely to represent the intended person name"), and warnings reach stderr and logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pdf_ds = EncapsulatedPDF(source, pdf, series_uid=generate_uid(), sop_uid=generate_uid(), identified=identified)
        sr_ds = build_sr(source, result, series_uid=generate_uid(), sop_uid=generate_uid())
        for ds in (pdf_ds, sr_ds):
            ds.SpecificCharacterSet = "ISO_IR 192"
    return pdf_ds, sr_ds
