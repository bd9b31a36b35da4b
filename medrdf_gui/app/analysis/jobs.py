"""What the worker thread runs (no Qt): the analysis (vote, then attention maps), a map for another class, a report.

Each job is a plain function ``run(request, progress, should_cancel)`` that returns plain data; the Qt worker in
``worker.py`` only carries it across threads. ``progress(phase, done, total)`` is called between batches with
the phase "votes" or "maps"; ``should_cancel()`` is polled between batches (``robust.Cancelled`` ends a job).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...audit import AuditError, AuditLog
from ...explain import (DEFAULT_COPIES, AttentionMaps, ExplainError, attention_maps, base_gradcam, defended_gradcam,
                        gate_maps)
from ...imaging import Study, StudyLoadError
from ...modelzoo import ModelLoadError, load_model_cached, study_to_tensor
from ...report import ReportError, write_report
from ...robust import Cancelled, EngineError, Result, RobustSettings, robust_predict
from ...robust.device import resolve_device
from ..view.heatmap import overlay_pixels

log = logging.getLogger(__name__)

PhaseProgress = Callable[[str, int, int], None]
CancelFn = Callable[[], bool]
VOTES, MAPS = "votes", "maps"


@dataclass(frozen=True)
class AnalysisRequest:
    """Everything one run needs, captured when Analyze is pressed so later GUI changes cannot affect it."""

    study: Study
    model_reference: str  # shipped model name or model-card path
    settings: RobustSettings
    gradcam_copies: int = DEFAULT_COPIES


@dataclass(frozen=True)
class MapsRequest:
    """Both maps of a finished result, recomputed for one chosen class (the class selector)."""

    study: Study
    result: Result
    model_reference: str
    target: str  # class name
    copies: int


@dataclass(frozen=True)
class ReportRequest:
    path: Path
    result: Result
    study: Study
    maps: AttentionMaps | None
    model_reference: str
    deidentify: bool


@dataclass(frozen=True, eq=False)
class MapsOutcome:
    """Attention maps with their colours, ready to blit: the GUI thread never runs the colour map."""

    maps: AttentionMaps
    base_overlay: np.ndarray  # h×w uint32 0xFFRRGGBB, at most heatmap.OVERLAY_MAX_SIDE a side
    defended_overlay: np.ndarray
    target: str | None  # None: each map explains its own model's class (base class / MedRDF class)
    thread_ident: int  # the thread that computed it (the tests check it is not the GUI's)
    gate_overlays: dict[str, np.ndarray] = field(default_factory=dict)  # of ``maps.gates``, by the same keys


@dataclass(frozen=True, eq=False)
class AnalysisOutcome:
    result: Result
    maps: MapsOutcome | None
    maps_error: str  # why there are no maps ("" when there are)
    audit_error: str = ""  # why the result is not in the audit log ("" when it is, or the log is off)


def describe_failure(exc: BaseException) -> str:
    """A one-sentence message for any exception the engine, the model loader or Grad-CAM can raise."""
    if isinstance(exc, (ModelLoadError, EngineError, StudyLoadError, ReportError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory; lower n or the batch size and try again."
    text = str(exc)
    if "CUDA" in text or "cuda" in text or "cuDNN" in text:
        return "The GPU failed during the analysis (CUDA error); choose the CPU device in Settings and try again."
    return f"The analysis failed unexpectedly ({type(exc).__name__}); the viewer is still usable."


def _outcome(maps: AttentionMaps, target: str | None) -> MapsOutcome:
    return MapsOutcome(maps, overlay_pixels(maps.base), overlay_pixels(maps.defended), target, threading.get_ident(),
                       {name: overlay_pixels(values) for name, values in maps.gates.items()})


def _device_of(result: Result) -> Any:
    try:
        return resolve_device(result.settings.get("device", "auto"))
    except EngineError:
        return "cpu"


def run_analysis(request: AnalysisRequest, progress: PhaseProgress, should_cancel: CancelFn) -> AnalysisOutcome:
    """The vote, then both attention maps at the image's size; a map failure keeps the result (with a message)."""
    if should_cancel():
        raise Cancelled("Analysis cancelled.")
    model = load_model_cached(request.model_reference, device="cpu")  # verified once, kept while its files stay
    x = study_to_tensor(request.study, model.card)
    result = robust_predict(model, x, request.settings, progress=lambda d, t: progress(VOTES, d, t),
                            should_cancel=should_cancel)
    result.attach_study(request.study)  # as `medrdf predict` does: pixel hash, warnings and alerts travel with it
    maps, maps_error = _attention_maps(request, model, x, result, progress, should_cancel)
    if should_cancel():  # cancelled at the very end: the user will see no result, so none is audited
        raise Cancelled("Analysis cancelled.")
    return AnalysisOutcome(result, maps, maps_error, audit(result))


def _attention_maps(request: AnalysisRequest, model: Any, x: Any, result: Result, progress: PhaseProgress,
                    should_cancel: CancelFn) -> tuple[MapsOutcome | None, str]:
    copies = request.gradcam_copies
    progress(MAPS, 0, 1 + copies)
    try:
        maps = attention_maps(model, x, result, copies=copies, size=request.study.shape,
                              progress=lambda d, t: progress(MAPS, d, t), should_cancel=should_cancel)
        return _outcome(maps, None), ""
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the vote stands even when its maps cannot be drawn
        log.warning("attention maps failed: %s", type(exc).__name__, exc_info=True)
        return None, str(exc) if isinstance(exc, ExplainError) else describe_failure(exc)


def audit(result: Result) -> str:
    """Append the verdict to the audit log, as ``medrdf predict`` does; returns why not ("" when written or off)."""
    try:
        AuditLog().record(result)
    except AuditError as exc:
        return f"{exc} The result is kept but not audited."
    return ""


def run_maps(request: MapsRequest, progress: PhaseProgress, should_cancel: CancelFn) -> MapsOutcome:
    """Base and defended Grad-CAM of ``request.target``, with the same model, seed and device as the result (and
    the network's own attention, which is the same for every class)."""
    result = request.result
    model = load_model_cached(request.model_reference, device=_device_of(result))
    if result.model.get("sha256") and model.sha256 != result.model["sha256"]:
        raise ExplainError("The model's weights changed since this analysis; press Analyze again.")
    x = study_to_tensor(request.study, model.card)
    total = 1 + request.copies
    progress(MAPS, 0, total)
    if should_cancel():
        raise Cancelled("Attention maps cancelled.")
    size = request.study.shape
    base = base_gradcam(model, x, request.target, size=size)
    progress(MAPS, 1, total)
    defended = defended_gradcam(model, x, result, copies=request.copies, target=request.target, size=size,
                                progress=lambda d, t: progress(MAPS, d, t), should_cancel=should_cancel,
                                progress_offset=1, progress_total=total)
    maps = AttentionMaps(base=base, defended=defended, base_class=request.target, defended_class=request.target,
                         copies=request.copies, target_layer=model.card.target_layer, seed=int(result.seed),
                         gates=gate_maps(model, x, size))
    return _outcome(maps, request.target)


def run_report(request: ReportRequest, progress: PhaseProgress, should_cancel: CancelFn) -> Path:
    """Write the PDF (ReportError on failure); only the model's card is read, not its weights."""
    from ...modelzoo import resolve_card

    try:
        card = resolve_card(request.model_reference)
    except (ModelLoadError, OSError):
        card = None  # the report then says what the Result records about the model
    return write_report(request.path, request.result, request.study, request.maps, card=card,
                        deidentify=request.deidentify)
