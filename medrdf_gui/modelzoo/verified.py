"""Reading a file only after its bytes match the sha256 its model card records: the weights and the scope
statistics both go through :func:`read_verified_bytes`, so the check (and the bytes parsed being the bytes hashed)
lives in one place."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ModelLoadError


def read_verified_bytes(path: Path, expected_sha256: str, subject: str, *, plural: bool = False,
                        missing_hint: str = "") -> bytes:
    """The bytes of ``path``, refused with a :class:`ModelLoadError` naming ``subject`` (e.g. "Weights file") when
    the file is missing, unreadable or does not hash to ``expected_sha256``. ``plural`` words the messages for a
    plural subject ("Scope statistics … are missing"); ``missing_hint`` is appended to the missing-file message."""
    is_, does, its, it = ("are", "do", "their", "them") if plural else ("is", "does", "its", "it")
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{subject} {path} {is_} missing{missing_hint}.") from exc
    except OSError as exc:
        raise ModelLoadError(f"{subject} {path} cannot be read ({exc.strerror}).") from exc
    actual = hashlib.sha256(blob).hexdigest()
    if actual.lower() != expected_sha256.lower():
        raise ModelLoadError(f"{subject} {path} {does} not match {its} card's sha256 (file {actual[:12]}…, card "
                             f"{expected_sha256[:12]}…); refusing to load {it}.")
    return blob
