"""Starts, cancels and joins analysis threads for the main window (one run at a time).

One QThread per run: the thread ends when its run ends, so "is an analysis running?" is simply "is there a
thread", and no idle thread can outlive the window (which crashes Python at exit and hangs pytest-qt).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread, Signal, Slot

from .eta import EtaEstimator
from .worker import AnalysisRequest, AnalysisWorker


class AnalysisController(QObject):
    """Owns the current worker thread; re-emits its signals in the GUI thread."""

    started = Signal(object)  # AnalysisRequest
    progress = Signal(int, int, str)  # done, total, "1,200 / 10,000 copies · about 12 s left"
    finished = Signal(object, object)  # Result, the AnalysisRequest that produced it
    failed = Signal(str)
    cancelled = Signal()
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: AnalysisWorker | None = None
        self._request: AnalysisRequest | None = None
        self._cancel_flag = threading.Event()
        self._eta = EtaEstimator()

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def thread(self) -> QThread | None:
        """The running worker thread (None when idle); exposed for tests that check thread affinity."""
        return self._thread

    @property
    def worker(self) -> AnalysisWorker | None:
        return self._worker

    def start(self, request: AnalysisRequest) -> bool:
        """Start a run; returns False (and does nothing) while another run is still going."""
        if self._thread is not None:
            return False
        self._cancel_flag = threading.Event()
        self._eta.reset()
        self._request = request
        thread = QThread()
        thread.setObjectName("MedRDF analysis")
        worker = AnalysisWorker(request, self._cancel_flag)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()
        self.runningChanged.emit(True)
        self.started.emit(request)
        return True

    def cancel(self) -> None:
        """Ask the running analysis to stop at its next batch boundary (returns at once)."""
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

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self._thread is None or self._cancel_flag.is_set():
            return
        self.progress.emit(done, total, self._eta.text(done, total))

    @Slot(object)
    def _on_finished(self, result: object) -> None:
        if self._cancel_flag.is_set():  # cancelled after the last batch: the user asked for no result
            self.cancelled.emit()
            return
        self.finished.emit(result, self._request)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
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
        self._thread = self._worker = self._request = None
        if was_running:
            self.runningChanged.emit(False)
