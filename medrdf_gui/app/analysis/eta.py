"""Remaining-time estimate for a run, from copies done so far (pure Python, so it is tested without Qt)."""

from __future__ import annotations

import time
from typing import Callable


def format_duration(seconds: float) -> str:
    """``"8 s"``, ``"2 min 05 s"``, ``"1 h 03 min"``: short enough for a progress line."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class EtaEstimator:
    """Linear extrapolation of the elapsed time per copy.

    Why linear: every copy costs the same forward pass, so the rate is steady once the first batch (which pays
    for lazy initialisation) is behind us; that first batch is therefore not used as the reference point.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reference: tuple[float, int] | None = None  # (time, done) at the first progress report

    def reset(self) -> None:
        self._reference = None

    def update(self, done: int, total: int) -> float | None:
        """Seconds left after ``done`` of ``total`` copies, or None while there is too little to go on."""
        now = self._clock()
        if self._reference is None:
            self._reference = (now, done)
            return None
        start_time, start_done = self._reference
        copies = done - start_done
        if copies <= 0 or total <= done:
            return 0.0 if total <= done else None
        return (now - start_time) / copies * (total - done)

    def text(self, done: int, total: int) -> str:
        """``"1,200 / 10,000 copies · about 12 s left"``."""
        remaining = self.update(done, total)
        progress = f"{done:,} / {total:,} copies"
        if remaining is None:
            return f"{progress} · estimating time left…"
        if done >= total:
            return f"{progress} · finishing"
        return f"{progress} · about {format_duration(remaining)} left"
