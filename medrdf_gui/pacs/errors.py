"""The one error type of the PACS layer.

Its message is one sentence a radiologist or a hospital's IT staff can act on ("Nothing answers at
pacs.example:104 (connection refused).", "The PACS rejected the association: it does not know the called AE
title 'PACS1'."). It never carries a patient name or ID: messages are built from the server's address, AE titles,
counts and DICOM status codes only. ``kind`` names the failure for code that must tell them apart (the tests, the
dialog's choice of icon); the edge (CLI, dialog) shows ``str(error)``.
"""

from __future__ import annotations

# The kinds, one per failure a user meets (docs/pacs.md lists them with their messages).
UNREACHABLE = "unreachable"  # nothing listens at host:port, or the host cannot be reached
REJECTED = "rejected"  # the association was rejected (AE titles) or no presentation context was accepted
TIMEOUT = "timeout"  # the server stopped answering
ABORTED = "aborted"  # the server aborted the association
FAILED = "failed"  # the server answered a request with a failure status
NOT_FOUND = "not-found"  # the study or series is not (or no longer) on the server
PARTIAL = "partial"  # a retrieve ended with fewer images than the server listed
CACHE = "cache"  # the cache or output folder cannot be written (full, read-only, too small)
GUARD = "guard"  # a result was not sent because it could land in the wrong patient's or an identified study
INVALID = "invalid"  # a server address, AE title or query field is malformed
CANCELLED = "cancelled"


class PacsError(Exception):
    """A PACS operation failed; ``str(error)`` is the sentence to show, ``kind`` one of the constants above."""

    def __init__(self, message: str, kind: str = FAILED) -> None:
        super().__init__(message)
        self.kind = kind


class PacsCancelled(PacsError):
    """The user cancelled; nothing was kept."""

    def __init__(self, message: str = "Cancelled; nothing was kept.") -> None:
        super().__init__(message, CANCELLED)
