"""The audit log: one JSON line per verdict, enough to reproduce it, nothing that identifies a patient.

Each entry holds the time, the pixel hash of the analysed image (``Result.image_sha256``), the model's name and
weights hash, the full settings (seed included), the vote (counts, p-value, RM, verdict, abstention, copies used)
and the app version: rerunning ``medrdf predict`` on the image with that model, those settings and that seed gives
the same counts. The final flag (``verdict``), the paper's RM rule (``rm_verdict``) and the codes of the alerts that
separate them are logged too, and so is the scope check (``out_of_scope``, ``ood_score``, ``ood_threshold``).
Entries are built from an explicit allow-list of Result fields, so a field added to Result later (a path, a
warning text) does not leak into the log by accident; there is no file name or path in it (paths often carry
patient names) and no DICOM header value.

Location: ``$MEDRDF_AUDIT_LOG`` (the value ``off`` disables it), else ``$XDG_STATE_HOME/medrdf/audit.jsonl``,
else ``~/.local/state/medrdf/audit.jsonl``; the CLI's ``--audit-log PATH`` / ``--no-audit-log`` and the
``path``/``enabled`` arguments override both.

Appending is atomic per line: the file is opened with ``O_APPEND`` and each entry is written by one ``write``
call, so concurrent writers (CLI and GUI at once) never interleave inside a line. A short write (disk full) is
reported as a failure, and the next append starts with a newline when the file does not end with one, so a torn
fragment stays alone on its line (which :func:`read_audit_log` skips) instead of corrupting the next entry. Failures raise :class:`AuditError`; callers report them and keep the user's result —
an unwritable audit log must never cost a diagnosis. The log is not tamper-proof: anyone who can write the file
can edit it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from ._version import __version__

ENV_VAR = "MEDRDF_AUDIT_LOG"
DISABLED_VALUES = {"off"}
SCHEMA = 1

# The Result fields an entry copies, by name. Nothing else from a Result reaches the log.
_RESULT_FIELDS = (
    "diagnosis", "label", "abstained", "top_class", "runner_up_class", "counts", "n", "n_used", "n_a", "n_b",
    "p_value", "rm", "rm_threshold", "rm_interval", "verdict", "rm_verdict", "pa_lower_bound", "pa_lower_clopper_pearson",
    "certified_radius", "base_diagnosis", "base_probabilities", "sampling", "out_of_scope", "ood_score", "ood_threshold",
    "squeeze_score", "squeeze_threshold",
)


class AuditError(Exception):
    """The audit log could not be written; the message names the log file (never an image or patient)."""


def default_audit_path() -> Path:
    """``$XDG_STATE_HOME/medrdf/audit.jsonl``, falling back to ``~/.local/state/medrdf/audit.jsonl``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "medrdf" / "audit.jsonl"


def configured_audit_path() -> Path | None:
    """Where the audit log goes by default: ``$MEDRDF_AUDIT_LOG`` (None when it says ``off``), else XDG state."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value.lower() in DISABLED_VALUES:
        return None
    return Path(value).expanduser() if value else default_audit_path()


def audit_entry(result: Any, *, event: str = "predict", now: dt.datetime | None = None) -> dict[str, Any]:
    """The JSON object logged for one :class:`~medrdf_gui.robust.Result` (pure: no I/O)."""
    settings = dict(getattr(result, "settings", {}) or {})
    model = getattr(result, "model", {}) or {}
    entry: dict[str, Any] = {
        "schema": SCHEMA,
        "event": event,
        "time": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "run_started": getattr(result, "timestamp", "") or None,
        "app_version": getattr(result, "app_version", "") or __version__,
        "image_sha256": getattr(result, "image_sha256", "") or None,
        "model": {"name": str(model.get("name", "")), "sha256": str(model.get("sha256", ""))},
        "settings": settings,
        "seed": getattr(result, "seed", settings.get("seed")),
        "device": getattr(result, "device", ""),
        # False when the verdict was given with settings not validated for the model (robust/validation.py)
        "settings_validated": not getattr(result, "caution", None),
        # why the flag is RE-EVALUATE although the RM rule accepted: alert codes only (alerts.py), never their text,
        # which may quote header values
        "alerts": [a.code for a in getattr(result, "alerts", None) or []],
        "result": {name: getattr(result, name, None) for name in _RESULT_FIELDS},
    }
    if isinstance(entry["result"].get("rm_interval"), tuple):
        entry["result"]["rm_interval"] = list(entry["result"]["rm_interval"])
    return entry


class AuditLog:
    """Append-only JSON-lines audit log. ``AuditLog().record(result)`` is all a caller needs — after setting
    ``result.image_sha256 = study.pixel_sha256()``, as ``medrdf predict`` does, so the entry names its image.

    ``path`` None means the configured location (see the module docstring); ``enabled=False`` (or a configured
    ``off``) makes :meth:`record` a no-op that returns None. Callers catch :class:`AuditError`, tell the user in
    one line, and keep the result.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, enabled: bool = True, fsync: bool = False) -> None:
        self.path: Path | None = (Path(path).expanduser() if path is not None else configured_audit_path()) if enabled else None
        self.fsync = fsync

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def record(self, result: Any, *, event: str = "predict") -> dict[str, Any] | None:
        """Append one entry for ``result``; return it (None when disabled). Raises :class:`AuditError`."""
        if self.path is None:
            return None
        entry = audit_entry(result, event=event)
        self.append(entry)
        return entry

    def append(self, entry: dict[str, Any]) -> None:
        """Write ``entry`` as one line with a single ``write`` on an ``O_APPEND`` descriptor (opened read-write only
        so that the last byte can be checked for a torn line)."""
        assert self.path is not None
        line = (json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")
        flags = os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        readable = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(self.path, os.O_RDWR | flags, 0o600)
            except PermissionError:  # a write-only log file: append without the torn-line check
                fd, readable = os.open(self.path, os.O_WRONLY | flags, 0o600), False
        except OSError as exc:
            raise AuditError(f"Cannot open the audit log {self.path} ({exc.strerror or type(exc).__name__}).") from None
        try:
            _lock(fd)  # released by close(); serialises the torn-line check with other writers' appends
            if readable and _ends_torn(fd):  # an earlier write was cut short (disk full): never glue onto its fragment
                line = b"\n" + line
            written = os.write(fd, line)
            if written != len(line):
                raise AuditError(f"Cannot write the audit log {self.path} (only {written} of {len(line)} bytes written).")
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            raise AuditError(f"Cannot write the audit log {self.path} ({exc.strerror or type(exc).__name__}).") from None
        finally:
            os.close(fd)


def _lock(fd: int) -> None:
    """An exclusive advisory lock (POSIX ``flock``) for the check-then-append: without it, a writer could read
    the last byte of another writer's append while that append is still being copied in, and take it for a torn
    line. Where flock is missing or refused (Windows, some network file systems) the append goes on unlocked:
    O_APPEND alone still keeps every line whole."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
    except (ImportError, OSError):
        pass


def _ends_torn(fd: int) -> bool:
    """True when the file does not end with a newline, i.e. its last append was cut short."""
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    if hasattr(os, "pread"):
        return os.pread(fd, 1, size - 1) != b"\n"
    os.lseek(fd, size - 1, os.SEEK_SET)  # O_APPEND writes go to the end whatever the read position
    return os.read(fd, 1) != b"\n"


def read_audit_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete entries of an audit log, skipping any line that is not a JSON object (a torn last line)."""
    entries: list[dict[str, Any]] = []
    with open(path, encoding="ascii", errors="replace") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                entries.append(obj)
    return entries
