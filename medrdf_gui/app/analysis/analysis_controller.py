"""Starts, cancels and joins the worker threads of the main window (one job at a time).

Three kinds of job share one thread slot: the analysis (vote, then attention maps), the maps of a result for
another class, and writing a PDF report. One QThread per job: the thread ends when its job ends, so "is
something running?" is simply "is there a thread", and no idle thread can outlive the window (which crashes
Python at exit and hangs pytest-qt).
"""

from __future__ import annotations

import threading
from functools import partial

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..analysis.eta import EtaEstimator
from ..analysis.jobs import MAPS, AnalysisOutcome, AnalysisRequest, MapsRequest, ReportRequest, run_analysis, run_maps, run_report
from ..analysis.worker import AnalysisWorker

ANALYSIS, CLASS_MAPS, REPORT = "analysis", "maps", "report"
_KINDS = {AnalysisRequest: (ANALYSIS, run_analysis), MapsRequest: (CLASS_MAPS, run_maps),
          ReportRequest: (REPORT, run_report)}


def maps_progress_text(done: int, total: int, eta: str) -> str:
    """``"Grad-CAM 12 / 32 · about 3 s left"``: the base map is item 1 of ``total``, the copies the rest."""
    copies = max(0, total - 1)
    text = f"Grad-CAM {min(copies, max(0, done - 1)):,} / {copies:,}"
    return f"{text} · {eta}" if eta else text


class AnalysisController(QObject):
    """Owns the current worker thread; re-emits its signals in the GUI thread, by kind of job."""

    started = Signal(object)  # the request
    progress = Signal(int, int, str)  # done, total, "1,200 / 10,000 copies · about 12 s left" / "Grad-CAM 5 / 32 …"
    finished = Signal(object, object)  # Result, AnalysisRequest — then mapsReady or mapsFailed for the same run
    failed = Signal(str)  # the analysis failed (no result)
    cancelled = Signal()  # the analysis was cancelled (no result, no maps)
    mapsReady = Signal(object, object)  # MapsOutcome, AnalysisRequest or MapsRequest
    mapsFailed = Signal(str, object)  # message, AnalysisRequest (the result stands) or MapsRequest
    mapsCancelled = Signal(object)  # MapsRequest: the maps shown before stay
    auditFailed = Signal(str)  # the result of an analysis could not be written to the audit log (it is kept)
    reportWritten = Signal(str)  # path
    reportFailed = Signal(str)  # one-line message
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: AnalysisWorker | None = None
        self._request: object | None = None
        self._kind: str | None = None
        self._phase = ""
        self._cancel_flag = threading.Event()
        self._eta = EtaEstimator()

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def kind(self) -> str | None:
        """"analysis", "maps", "report", or None when idle."""
        return self._kind

    @property
    def thread(self) -> QThread | None:
        """The running worker thread (None when idle); exposed for tests that check thread affinity."""
        return self._thread

    @property
    def worker(self) -> AnalysisWorker | None:
        return self._worker

    def start(self, request: AnalysisRequest | MapsRequest | ReportRequest) -> bool:
        """Start a job; returns False (and does nothing) while another job is still going."""
        if self._thread is not None:
            return False
        kind, run = _KINDS[type(request)]
        self._cancel_flag = threading.Event()
        self._eta.reset()
        self._phase = ""
        self._request, self._kind = request, kind
        thread = QThread()
        thread.setObjectName(f"MedRDF {kind}")
        worker = AnalysisWorker(partial(run, request), self._cancel_flag)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start(QThread.Priority.LowPriority)
        self.runningChanged.emit(True)
        self.started.emit(request)
        return True

    def cancel(self) -> None:
        """Ask the running job to stop at its next batch boundary (returns at once; a report is not cancellable)."""
        if self._kind != REPORT:
            self._cancel_flag.set()

    def shutdown(self) -> None:
        """Cancel and join: used when the window closes, so the thread never outlives its owner."""
        thread = self._thread
        if thread is None:
            return
        self._cancel_flag.set()
        thread.quit()
        thread.wait()
        self._release()

    @Slot(str, int, int)
    def _on_progress(self, phase: str, done: int, total: int) -> None:
        if self._thread is None or self._cancel_flag.is_set():
            return
        if phase != self._phase:
            self._phase = phase
            self._eta.reset()
        eta = self._eta.text(done, total)
        if phase == MAPS:
            eta = eta.split(" · ", 1)[1] if " · " in eta else ""
            self.progress.emit(done, total, maps_progress_text(done, total, eta))
        else:
            self.progress.emit(done, total, eta)

    @Slot(object)
    def _on_finished(self, payload: object) -> None:
        request = self._request
        if self._kind == REPORT:
            self.reportWritten.emit(str(payload))
        elif self._cancel_flag.is_set():  # cancelled after the last batch: the user asked for nothing more
            self._on_cancelled()
        elif isinstance(payload, AnalysisOutcome):
            self.finished.emit(payload.result, request)
            if payload.maps is not None:
                self.mapsReady.emit(payload.maps, request)
            else:
                self.mapsFailed.emit(payload.maps_error, request)
            if payload.audit_error:
                self.auditFailed.emit(payload.audit_error)
        else:
            self.mapsReady.emit(payload, request)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._kind == ANALYSIS:
            self.failed.emit(message)
        elif self._kind == CLASS_MAPS:
            self.mapsFailed.emit(message, self._request)
        else:
            self.reportFailed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        if self._kind == CLASS_MAPS:
            self.mapsCancelled.emit(self._request)
        else:
            self.cancelled.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.wait()  # finished is emitted just before the thread really ends
        self._release()

    def _release(self) -> None:
        # The thread has been joined, so dropping the last references deletes both objects safely right here.
        was_running = self._thread is not None
        self._thread = self._worker = self._request = self._kind = None
        if was_running:
            self.runningChanged.emit(False)
