"""The analysis worker: a QObject that runs one MedRDF analysis in its own QThread.

Rules this file keeps, and why:

* It never touches a widget (widgets belong to the GUI thread); everything goes out by signals that carry plain
  data: ints for progress, the engine's ``Result`` object, and an error *message string* — never an exception
  object, which would keep the worker's traceback and frames alive across threads.
* Cancellation is a ``threading.Event`` set by the GUI thread and polled by the engine between batches, so the
  GUI never has to wait for the worker's event loop to deliver a "cancel" call.
* Model loading happens here too: checking a ResNet's SHA-256 and building it takes long enough to freeze a
  window if done in the GUI thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..imaging import Study, StudyLoadError
from ..modelzoo import ModelLoadError, load_model, study_to_tensor
from ..robust import Cancelled, EngineError, RobustSettings, robust_predict

log = logging.getLogger(__name__)

# Progress reports are capped at this rate: a tiny model on a GPU can finish a batch every millisecond, and a
# queued signal per batch would flood the GUI thread's event queue for no visible gain.
PROGRESS_INTERVAL_S = 0.05


@dataclass(frozen=True)
class AnalysisRequest:
    """Everything one run needs, captured when Analyze is pressed so later GUI changes cannot affect it."""

    study: Study
    model_reference: str  # shipped model name or model-card path
    settings: RobustSettings


def leave_a_core_for_the_gui() -> int:
    """Let torch use all cores but one, so that the GUI thread stays responsive during a CPU run.

    Returns the previous thread count: the setting is process-wide, so the worker puts it back afterwards.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    return previous


def describe_failure(exc: BaseException) -> str:
    """A one-sentence message for any exception the engine or the model loader can raise."""
    if isinstance(exc, (ModelLoadError, EngineError, StudyLoadError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory; lower n or the batch size and try again."
    text = str(exc)
    if "CUDA" in text or "cuda" in text or "cuDNN" in text:
        return "The GPU failed during the analysis (CUDA error); choose the CPU device in Settings and try again."
    return f"The analysis failed unexpectedly ({type(exc).__name__}); the viewer is still usable."


class _ThrottledProgress:
    """Calls ``emit`` at most every PROGRESS_INTERVAL_S, but always for the last copy."""

    def __init__(self, emit: Callable[[int, int], None]) -> None:
        self._emit = emit
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            self._emit(done, total)


class AnalysisWorker(QObject):
    """Runs :meth:`run` once in the thread it was moved to, then asks that thread to quit."""

    progress = Signal(int, int)  # copies done, total copies
    finished = Signal(object)  # robust.Result
    failed = Signal(str)  # user-ready message
    cancelled = Signal()

    def __init__(self, request: AnalysisRequest, cancel_flag: threading.Event) -> None:
        super().__init__()
        self._request = request
        self._cancel_flag = cancel_flag
        self.thread_ident: int | None = None  # the OS thread that ran the analysis (checked by the tests)

    def should_cancel(self) -> bool:
        return self._cancel_flag.is_set()

    @Slot()
    def run(self) -> None:
        self.thread_ident = threading.get_ident()
        try:
            self._run()
        finally:
            QThread.currentThread().quit()

    def _run(self) -> None:
        request = self._request
        previous_threads = leave_a_core_for_the_gui()
        try:
            if self.should_cancel():
                raise Cancelled("Analysis cancelled.")
            model = load_model(request.model_reference, device="cpu")
            x = study_to_tensor(request.study, model.card)
            result = robust_predict(
                model,
                x,
                request.settings,
                progress=_ThrottledProgress(self.progress.emit),
                should_cancel=self.should_cancel,
            )
            result.warnings.extend(request.study.warnings)  # as `medrdf predict` does: the notes travel with it
            result.image_sha256 = request.study.pixel_sha256()  # ties the result to the exact pixels analysed
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure must end as a message, never kill the thread
            log.warning("analysis failed: %s", type(exc).__name__, exc_info=True)
            self.failed.emit(describe_failure(exc))
        else:
            self.finished.emit(result)
        finally:
            torch.set_num_threads(previous_threads)
