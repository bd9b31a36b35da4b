"""A cancel request that reaches a blocked network call: ``token.cancel()`` (from any thread, e.g. the GUI's)
sets the flag that loops poll *and* aborts the open association at once, so a cancel never waits for a slow
server's next answer or for a timeout."""

from __future__ import annotations

import threading
from typing import Callable


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - aborting a closing association may fail; the flag is set anyway
                pass

    def is_set(self) -> bool:
        return self._event.is_set()

    __call__ = is_set  # a token is also a ``should_cancel`` function

    def register(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on cancel (at once if already cancelled); returns the function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._unregister(callback)
        callback()
        return lambda: None

    def _unregister(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
