"""The worker: a QObject that runs one job of ``jobs.py`` (analysis, class map, report) in its own QThread.

Rules this file keeps, and why:

* It never touches a widget (widgets belong to the GUI thread); everything goes out by signals that carry plain
  data: the phase and ints for progress, the job's plain result object, and an error *message string* — never
  an exception object, which would keep the worker's traceback and frames alive across threads.
* Cancellation is a ``threading.Event`` set by the GUI thread and polled by the engine between batches, so the
  GUI never has to wait for the worker's event loop to deliver a "cancel" call.
* The GUI keeps its slack: torch gets all cores but one, the worker thread runs at a lower OS priority, and
  progress is sent at most 20 times a second, however fast the batches are.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Callable

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ...robust import Cancelled
from ..analysis.jobs import CancelFn, PhaseProgress, describe_failure

log = logging.getLogger(__name__)

# Progress reports are capped at this rate: a tiny model on a GPU can finish a batch every millisecond, and a
# queued signal per batch would flood the GUI thread's event queue for no visible gain.
PROGRESS_INTERVAL_S = 0.05
WORKER_NICENESS = 5  # Linux: the worker thread yields to the GUI thread when both want the same core

Job = Callable[[PhaseProgress, CancelFn], object]


def leave_a_core_for_the_gui() -> int:
    """Let torch use all cores but one, so that the GUI thread stays responsive during a CPU run.

    Returns the previous thread count: the setting is process-wide, so the worker puts it back afterwards.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    return previous


def lower_this_threads_priority() -> None:
    """Renice the calling thread only (Linux, where a thread id is a valid PRIO_PROCESS target)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere QThread.LowPriority (set by the controller) does this job
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS))
    except OSError:
        log.debug("could not lower the worker thread's priority", exc_info=True)


class _ThrottledProgress:
    """Calls ``emit`` at most every PROGRESS_INTERVAL_S, but always for a new phase and for the last item."""

    def __init__(self, emit: Callable[[str, int, int], None]) -> None:
        self._emit = emit
        self._last = 0.0
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != self._phase or done >= total or now - self._last >= PROGRESS_INTERVAL_S:
            self._phase, self._last = phase, now
            self._emit(phase, done, total)


class AnalysisWorker(QObject):
    """Runs its job once in the thread it was moved to, then asks that thread to quit."""

    progress = Signal(str, int, int)  # phase ("votes" / "maps"), done, total
    finished = Signal(object)  # the job's result (plain data)
    failed = Signal(str)  # user-ready message
    cancelled = Signal()

    def __init__(self, job: Job, cancel_flag: threading.Event) -> None:
        super().__init__()
        self._job = job
        self._cancel_flag = cancel_flag
        self.thread_ident: int | None = None  # the OS thread that ran the job (checked by the tests)

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
        lower_this_threads_priority()
        previous_threads = leave_a_core_for_the_gui()
        try:
            payload = self._job(_ThrottledProgress(self.progress.emit), self.should_cancel)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure must end as a message, never kill the thread
            log.warning("worker job failed: %s", type(exc).__name__, exc_info=True)
            self.failed.emit(describe_failure(exc))
        else:
            self.finished.emit(payload)
        finally:
            torch.set_num_threads(previous_threads)
