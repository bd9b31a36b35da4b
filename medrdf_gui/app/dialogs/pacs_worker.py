"""Runs one PACS task (echo, query, retrieve, send) on its own QThread, with progress and cancel.

The same rules as the analysis worker (``app/analysis/worker.py``): the task never touches a widget; results go
out by signals carrying plain data, and a failure as a message *string* (never an exception object). Cancel
goes through a :class:`~medrdf_gui.pacs.CancelToken`, which aborts the open association at once, so a cancel
never waits for a slow server. One QThread per task: "is something running?" is "is there a thread", and
``shutdown()`` joins it, so no thread outlives the dialog or window that owns it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ...pacs import CancelToken, PacsCancelled, PacsError

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]
Task = Callable[[Progress, CancelToken], Any]


class _Worker(QObject):
    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, task: Task, token: CancelToken) -> None:
        super().__init__()
        self._task, self._token = task, token

    @Slot()
    def run(self) -> None:
        try:
            payload = self._task(lambda done, total, text="": self.progress.emit(int(done), int(total), text),
                                 self._token)
        except PacsCancelled:
            self.cancelled.emit()
        except PacsError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must end as a message, never kill the thread
            log.warning("PACS task failed: %s", type(exc).__name__, exc_info=True)
            self.failed.emit(f"The PACS operation failed unexpectedly ({type(exc).__name__}).")
        else:
            self.finished.emit(payload)
        finally:
            QThread.currentThread().quit()


class PacsTaskRunner(QObject):
    """Owns at most one running task; re-emits its signals in the GUI thread."""

    progress = Signal(int, int, str)  # done, total, text
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._token = CancelToken()

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def thread(self) -> QThread | None:
        return self._thread

    def start(self, task: Task, name: str = "PACS") -> bool:
        if self._thread is not None:
            return False
        self._token = CancelToken()
        thread = QThread()
        thread.setObjectName(f"MedRDF {name}")
        worker = _Worker(task, self._token)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.finished.connect(self.finished)
        worker.failed.connect(self.failed)
        worker.cancelled.connect(self.cancelled)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()
        self.runningChanged.emit(True)
        return True

    def cancel(self) -> None:
        """Ask the task to stop; the open association is aborted at once (returns at once)."""
        self._token.cancel()

    def shutdown(self) -> None:
        """Cancel and join: called when the owner closes."""
        thread = self._thread
        if thread is None:
            return
        self._token.cancel()
        thread.quit()
        thread.wait()
        self._release()

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.wait()
        self._release()

    def _release(self) -> None:
        was_running = self._thread is not None
        self._thread = self._worker = None
        if was_running:
            self.runningChanged.emit(False)
