"""Analysis ▸ Send to PACS…: file the shown result into its study on a PACS (report PDF + structured report).

The send runs on a :class:`PacsTaskRunner` thread. The PDF is rendered identified for an identified image and
de-identified for a de-identified one, and ``pacs.send_result`` checks the identity guard before anything is
stored (docs/pacs.md); a refusal or a failure is one sentence in a banner, and the window stays usable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QInputDialog

from ...audit import AuditError, AuditLog
from ...pacs import PacsConfig, PacsError, Server, load_config, send_result, source_is_deidentified
from ...pacs.send import audit_entry
from .pacs_worker import PacsTaskRunner

if TYPE_CHECKING:
    from ..main_window import MainWindow


class SendToPacs(QObject):
    sent = Signal(str)  # the sentence shown on success
    sendFailed = Signal(str)

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.runner = PacsTaskRunner(self)
        self.runner.finished.connect(self._on_sent)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(lambda: self._on_failed("Cancelled; nothing was sent."))
        self.runner.runningChanged.connect(lambda _: self.w._update_actions())
        self._server: Server | None = None

    def can_send(self) -> bool:
        flow = self.w.flow
        return (flow.result is not None and flow.result_request is not None and not flow.controller.is_running
                and not self.runner.is_running and flow.result_request.study.source_format == "dicom")

    @Slot()
    def choose_and_send(self) -> bool:
        """Ask which server (configured names, or an address typed in), then send."""
        try:
            config = load_config()
        except PacsError as exc:
            self.w.banners.add("pacs", str(exc), "error")
            return False
        names = [str(s) for s in config.servers]
        text, ok = QInputDialog.getItem(self.w, "Send to PACS", "File the report and the structured report into "
                                        "this image's study on:\n(a configured server, or AET@host:port)",
                                        names or [""], 0, True)
        if not ok or not text.strip():
            return False
        chosen = next((s for s in config.servers if str(s) == text), None)
        try:
            server = chosen or config.resolve(text)
        except PacsError as exc:
            self.w.banners.add("pacs", str(exc), "error")
            return False
        return self.send(server, config)

    def send(self, server: Server, config: PacsConfig | None = None) -> bool:
        if not self.can_send():
            return False
        config = config or load_config()
        flow = self.w.flow
        request, result = flow.result_request, flow.result
        maps = self.w.maps_panel.default_maps()
        maps = maps.maps if maps else None
        study, reference = request.study, request.model_reference
        calling, timeout = config.calling_aet, config.timeout_s

        def task(progress: Any, token: Any) -> str:
            from ...modelzoo import ModelLoadError, resolve_card
            from ...report.writer import render_report

            try:
                card = resolve_card(reference)
            except (ModelLoadError, OSError):
                card = None
            deidentified = source_is_deidentified(study)
            pdf = render_report(result, study, maps, card=card, deidentify=deidentified)
            receipt = None
            try:
                receipt = send_result(server, calling, study, result, pdf, report_identified=not deidentified,
                                      timeout=timeout, cancel=token)
            finally:
                _audit(result, server, receipt)
            return f"Sent to {server}: the report PDF and the structured report are filed in this image's study."

        self._server = server
        self.w.banners.clear("pacs")
        self.w.statusBar().showMessage(f"Sending the result to {server}…")
        return self.runner.start(task, "send")

    @Slot(object)
    def _on_sent(self, message: object) -> None:
        self.w.statusBar().clearMessage()
        self.w.banners.add("pacs", str(message), "info")
        self.sent.emit(str(message))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.w.statusBar().clearMessage()
        self.w.banners.add("pacs", f"Not sent to the PACS. {message}", "error")
        self.sendFailed.emit(message)

    def shutdown(self) -> None:
        self.runner.shutdown()


def _audit(result: Any, server: Server, receipt: Any) -> None:
    log = AuditLog()
    if not log.enabled:
        return
    try:
        log.append(audit_entry(result, server, receipt, "" if receipt else "not sent"))
    except AuditError:
        pass  # the send's outcome is shown either way; the analysis itself was audited already
