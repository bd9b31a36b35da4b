"""One DICOM association with a PACS, with every way it can fail turned into a :class:`PacsError` sentence.

pynetdicom does the protocol. This module adds what a user needs from it: timeouts on every step (connecting,
the association request, each DIMSE message, the socket), the reason of a rejection read from the
A-ASSOCIATE-RJ PDU ("it does not know the called AE title"), a plain diagnosis when nothing answers (connection
refused, unknown host, no route), and cancellation by aborting the association from another thread.

pynetdicom logs request identifiers (patient names included) at INFO and element dumps at DEBUG; its loggers
are held at WARNING here and their records pass through the same privacy filter as pydicom's, so no patient
name from a query or an answer reaches a log.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from pynetdicom import AE, build_role, evt
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.pdu_primitives import A_P_ABORT

from .cancel import CancelToken
from .errors import ABORTED, REJECTED, TIMEOUT, UNREACHABLE, PacsCancelled, PacsError
from .servers import Server

log = logging.getLogger(__name__)
_VALUES = re.compile(r"""(b?(['"]).*|\[.*\])""", re.DOTALL)


class PynetdicomPrivacyFilter(logging.Filter):
    """Drop pynetdicom's INFO and DEBUG records (they print request identifiers and datasets element by element)
    and withhold quoted or bracketed values from the warnings and errors it still logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: drop its arguments rather than fail
            message = str(record.msg)
        record.msg, record.args = _VALUES.sub("[value withheld]", message), None
        record.exc_info = record.exc_text = None
        return True


_PRIVACY = PynetdicomPrivacyFilter()
def quiet_pynetdicom() -> None:
    """Hold pynetdicom's loggers at WARNING and withhold quoted values from what they still log (idempotent)."""
    names = ["pynetdicom", *(n for n in list(logging.Logger.manager.loggerDict) if n.startswith("pynetdicom."))]
    for name in names:  # a logger's filter sees only its own records: every module's logger gets one
        logger = logging.getLogger(name)
        if _PRIVACY not in logger.filters:
            logger.addFilter(_PRIVACY)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


quiet_pynetdicom()

# PS3.8 9.3.4: (source, diagnostic) of an A-ASSOCIATE-RJ, in words a PACS administrator recognises.
_REJECT_REASONS = {
    (1, 2): "it does not support the DICOM application context",
    (1, 3): "it does not know the calling AE title '{calling}' (ask its administrator to register this workstation)",
    (1, 7): "it does not know the called AE title '{called}' (check the AE title in the server settings)",
    (2, 2): "it does not support the protocol version",
    (3, 1): "it is busy (temporary congestion); try again in a moment",
    (3, 2): "it has reached its limit of simultaneous connections; try again in a moment",
}


@dataclass(frozen=True)
class Context:
    """A presentation context to request: an abstract syntax, its transfer syntaxes, and whether this end
    acts as the storage SCP for it (C-GET delivers its images as C-STOREs on the same association)."""

    abstract_syntax: str
    transfer_syntaxes: Sequence[str] | None = None
    scp_role: bool = False


def diagnose_unreachable(server: Server, timeout: float) -> str | None:
    """Why a TCP connection to the server fails, as a sentence; None when a connection can be made (called only
    after an association failed, to tell "nothing there" from "something there that did not cooperate")."""
    where = f"{server.host}:{server.port}"
    try:
        with socket.create_connection((server.host, server.port), timeout=min(timeout, 10.0)):
            pass
    except socket.gaierror:
        return f"The PACS host name '{server.host}' cannot be resolved; check the host in the server settings."
    except ConnectionRefusedError:
        return (f"Nothing answers at {where} (connection refused): the PACS is not running there, or the port is "
                "wrong.")
    except (socket.timeout, TimeoutError):
        return f"The PACS at {where} did not accept a connection within {timeout:g} s (a firewall, or the host is down)."
    except OSError as exc:
        return f"Cannot reach the PACS at {where} ({exc.strerror or type(exc).__name__})."
    return None


class Association:
    """``with Association(server, calling_aet, contexts) as ctx:`` — ``ctx.assoc`` is an established pynetdicom
    association, released on exit (aborted when the block raised). ``cancel()`` may be called from any thread."""

    def __init__(self, server: Server, calling_aet: str, contexts: Iterable[Context], *, timeout: float = 30.0,
                 handlers: Sequence[tuple[Any, Callable]] = (), cancel: CancelToken | None = None) -> None:
        self.server, self.calling_aet, self.timeout = server, calling_aet, float(timeout)
        self.token = cancel
        self._unregister: Callable[[], None] = lambda: None
        self.contexts = list(contexts)
        self.handlers = list(handlers)
        self.assoc: Any = None
        self._reject: tuple[int, int, int] | None = None
        self._pending: Any = None  # the association being negotiated (set when its TCP connection opens)
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Set the flag and abort the association. Called from the association's own thread (a C-STORE handler's
        progress callback), the abort runs on a helper thread: done in place, it would wait on itself."""
        self._cancelled.set()
        assoc = self.assoc
        if assoc is None:  # still negotiating: make the requestor read an abort instead of waiting for the answer
            pending = self._pending
            queue = getattr(getattr(pending, "dul", None), "to_user_queue", None)
            if pending is not None and queue is not None and not pending.is_established:
                queue.put(A_P_ABORT())
            return
        if not assoc.is_established:
            return
        if threading.current_thread() is assoc:
            threading.Thread(target=self._abort, args=(assoc,), name="pacs-abort", daemon=True).start()
        else:
            self._abort(assoc)

    @staticmethod
    def _abort(assoc: Any) -> None:
        """Abort, then wake a caller blocked on the next DIMSE message: pynetdicom's abort does not, and the
        caller would sleep until the DIMSE timeout. (None, None) is what pynetdicom's own queue read returns
        on a timeout or an abort."""
        assoc.abort()
        queue = getattr(getattr(assoc, "dimse", None), "msg_queue", None)
        if queue is not None:
            queue.put((None, None))

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() or (self.token is not None and self.token.is_set())

    def _on_open(self, event: Any) -> None:
        self._pending = event.assoc

    def _on_pdu(self, event: Any) -> None:
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            self._reject = (int(event.pdu.result), int(event.pdu.source), int(event.pdu.reason_diagnostic))

    def __enter__(self) -> "Association":
        if self.token is not None:
            if self.token.is_set():
                raise PacsCancelled()
            self._unregister = self.token.register(self.cancel)
        ae = AE(ae_title=self.calling_aet)
        for t in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
            setattr(ae, t, self.timeout)
        ae.maximum_pdu_size = 0  # no limit on what we receive
        roles = []
        for cx in self.contexts:
            if cx.transfer_syntaxes:
                ae.add_requested_context(cx.abstract_syntax, list(cx.transfer_syntaxes))
            else:
                ae.add_requested_context(cx.abstract_syntax)
            if cx.scp_role and cx.abstract_syntax not in {r.sop_class_uid for r in roles}:
                roles.append(build_role(cx.abstract_syntax, scp_role=True))
        handlers = [(evt.EVT_PDU_RECV, self._on_pdu), (evt.EVT_CONN_OPEN, self._on_open), *self.handlers]
        started = time.monotonic()
        try:
            self.assoc = assoc = ae.associate(self.server.host, self.server.port, ae_title=self.server.ae_title,
                                              ext_neg=roles or None, evt_handlers=handlers)
        except OSError:  # e.g. the host name does not resolve
            self._unregister()
            raise PacsError(diagnose_unreachable(self.server, self.timeout)
                            or f"Cannot connect to the PACS at {self.server.host}:{self.server.port}.",
                            UNREACHABLE) from None
        if assoc.is_established:
            if self.cancelled:
                assoc.abort()
                self._unregister()
                raise PacsCancelled()
            return self
        self._unregister()
        raise self._failure(assoc, time.monotonic() - started)

    def _failure(self, assoc: Any, elapsed: float) -> PacsError:
        if self.cancelled:
            return PacsCancelled()
        where = f"{self.server.host}:{self.server.port}"
        if assoc.is_rejected:
            result, source, diagnostic = self._reject or (1, 1, 1)
            reason = _REJECT_REASONS.get((source, diagnostic), f"reason code {source}/{diagnostic}")
            reason = reason.format(calling=self.calling_aet, called=self.server.ae_title)
            return PacsError(f"The PACS at {where} rejected the association: {reason}.", REJECTED)
        if elapsed < self.timeout * 0.9:  # a quick failure: is anything listening at all?
            unreachable = diagnose_unreachable(self.server, self.timeout)
            if unreachable is not None:
                return PacsError(unreachable, UNREACHABLE)
        if assoc.is_aborted:
            if getattr(assoc, "rejected_contexts", None) and not getattr(assoc, "accepted_contexts", None):
                return PacsError(f"The PACS at {where} accepted the connection but none of the requested services "
                                 "(check that it allows this AE title to query, retrieve or store).", REJECTED)
            if elapsed >= self.timeout * 0.9:
                return PacsError(f"The PACS at {where} did not answer the association request within "
                                 f"{self.timeout:g} s.", TIMEOUT)
            return PacsError(f"The PACS at {where} aborted the association request.", ABORTED)
        return PacsError(f"The PACS at {where} closed the connection without answering the association request.",
                         ABORTED)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._unregister()
        assoc = self.assoc
        if assoc is None:
            return
        try:
            if assoc.is_established:
                if exc_type is None:
                    assoc.release()
                else:
                    assoc.abort()
        except Exception:  # noqa: BLE001 - closing must never mask the real outcome
            log.debug("closing the association failed", exc_info=True)

    def lost(self, what: str, since: float) -> PacsError:
        """The error for an exchange (begun at ``since``, a monotonic time) that ended without a final status:
        a cancel, a timeout, or the server aborting — which right after a request usually means it does not
        allow this AE title that service."""
        if self.cancelled:
            return PacsCancelled()
        where = f"{self.server.host}:{self.server.port}"
        if time.monotonic() - since >= self.timeout * 0.9:
            return PacsError(f"The PACS at {where} stopped answering during the {what} (no reply within "
                             f"{self.timeout:g} s).", TIMEOUT)
        return PacsError(f"The PACS at {where} aborted the association during the {what}: it may not allow the AE "
                         f"title '{self.calling_aet}' this service (ask its administrator to register this "
                         "workstation).", ABORTED)
