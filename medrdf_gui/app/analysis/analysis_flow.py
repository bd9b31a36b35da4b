"""The analysis side of the main window: Analyze and Cancel, the result and its maps on screen, maps for another
class, and the PDF report.

It decides *when* (what is allowed now, which request a result belongs to, what a cancel leaves behind); the
controller runs the jobs, the panels display. The window owns the study and the widgets, this object only
reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDialog

from ...robust import Result
from ..analysis.analysis_controller import ANALYSIS, CLASS_MAPS, AnalysisController
from ..analysis.jobs import AnalysisRequest, MapsOutcome, MapsRequest, ReportRequest
from ..panels.model_selector import NO_MODEL_TEXT
from ..dialogs.report_export import ExportReportDialog

if TYPE_CHECKING:
    from ..main_window import MainWindow


class AnalysisFlow(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.controller = AnalysisController(self)
        self.result_request: AnalysisRequest | None = None  # the request behind the result on screen
        self._cancelled_for_new_image = False
        self.last_report: Path | None = None
        c = self.controller
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)
        c.mapsReady.connect(self._on_maps_ready)
        c.mapsFailed.connect(self._on_maps_failed)
        c.mapsCancelled.connect(lambda _request: self.w.maps_panel.cancelled())
        c.auditFailed.connect(lambda text: self.w.banners.add("analysis", text, "warning"))
        c.reportWritten.connect(self._on_report_written)
        c.reportFailed.connect(self._on_report_failed)

    @property
    def result(self) -> Result | None:
        return self.w.results_panel.result

    # Analysis -------------------------------------------------------------------------------------------------------

    def can_analyze(self) -> tuple[bool, str]:
        """Whether Analyze may run now, and if not, the sentence that says why."""
        w = self.w
        if self.controller.is_running:
            return False, "An analysis is running." if self.controller.kind == ANALYSIS else "Please wait: busy."
        if w.study is None:
            return False, "Open an image first."
        if w.settings_panel.model_reference() is None:
            return False, NO_MODEL_TEXT
        error = w.settings_panel.validation_error()
        if error:
            return False, f"Fix the settings first: {error}"
        return True, "Run the MedRDF analysis (a vote over noisy, denoised copies) on the shown image (F5)"

    def analyze(self) -> bool:
        w = self.w
        allowed, _ = self.can_analyze()
        if not allowed or w.study is None:
            return False
        reference = w.settings_panel.model_reference()
        assert reference is not None
        request = AnalysisRequest(w.study, reference, w.settings_panel.settings().validate(),
                                  w.settings_panel.gradcam_copies.value())
        w.banners.clear("analysis")
        if not self.controller.start(request):
            return False
        w.results_panel.show_running()
        w.maps_panel.show_computing()
        return True

    def cancel(self) -> None:
        if self.controller.is_running:
            self.controller.cancel()
            self.w.statusBar().showMessage("Cancelling…", 3000)

    def stop_for_new_image(self) -> None:
        if self.controller.kind in (ANALYSIS, CLASS_MAPS):
            self.controller.cancel()
            if self.controller.kind == ANALYSIS:
                self._cancelled_for_new_image = True
                self.w.banners.add("analysis", "The running analysis was cancelled because another image was "
                                   "opened.", "info")

    def reset(self, message: str) -> None:
        """No result on screen (a new image, no image)."""
        self.result_request = None
        self.w.results_panel.clear(message)
        self.w.maps_panel.clear()

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        if self.controller.kind == CLASS_MAPS:
            self.w.maps_panel.show_progress(done, total, text)
        else:
            self.w.results_panel.show_progress(done, total, text)

    @Slot(object, object)
    def _on_finished(self, result: Result, request: AnalysisRequest) -> None:
        w = self.w
        if request.study is not w.study:
            return  # the image changed while the result was in flight
        self.result_request = request
        w.results_panel.show_result(result)
        w.maps_panel.set_result(result)
        self.update_stale()
        w.statusBar().showMessage(f"Analysis finished in {result.elapsed_s:.1f} s.", 5000)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.w.results_panel.show_error(message)
        self.w.maps_panel.clear()
        self.w.banners.add("analysis", message, "error")

    @Slot()
    def _on_cancelled(self) -> None:
        w = self.w
        if self._cancelled_for_new_image:  # the new image never had an analysis: say what to do next instead
            self._cancelled_for_new_image = False
            w.results_panel.clear(w.idle_message())
        elif w.results_panel.result is None and w.study is not None:
            w.results_panel.show_cancelled()
        if w.results_panel.result is None:
            w.maps_panel.clear()
        w.statusBar().showMessage("Analysis cancelled.", 3000)

    def update_stale(self) -> None:
        request, w = self.result_request, self.w
        if request is None or w.results_panel.result is None:
            return
        stale = (request.settings != w.settings_panel.settings()
                 or request.model_reference != w.settings_panel.model_reference())
        w.results_panel.set_stale(stale)

    # Maps -----------------------------------------------------------------------------------------------------------

    def _belongs_to_shown_result(self, request: object) -> bool:
        result = request.result if isinstance(request, MapsRequest) else None
        if isinstance(request, AnalysisRequest):
            return request is self.result_request
        return result is not None and result is self.result

    @Slot(object, object)
    def _on_maps_ready(self, outcome: MapsOutcome, request: object) -> None:
        if self._belongs_to_shown_result(request):
            self.w.maps_panel.show_maps(outcome)

    @Slot(str, object)
    def _on_maps_failed(self, message: str, request: object) -> None:
        if self._belongs_to_shown_result(request):
            self.w.maps_panel.show_error(message)
            self.w.banners.add("maps", f"Attention maps: {message}", "warning")

    @Slot(str)
    def request_class_maps(self, target: str) -> bool:
        """Both maps for ``target``, computed in the worker with the model, seed and m of the shown result."""
        w, request = self.w, self.result_request
        if request is None or self.result is None or self.controller.is_running:
            w.maps_panel.cancelled()
            return False
        copies = w.maps_panel.default_maps().maps.copies if w.maps_panel.default_maps() else request.gradcam_copies
        w.banners.clear("maps")
        return self.controller.start(MapsRequest(request.study, self.result, request.model_reference, target, copies))

    # Report ---------------------------------------------------------------------------------------------------------

    def can_export(self) -> bool:
        return self.result is not None and self.result_request is not None and not self.controller.is_running

    @Slot()
    def export_report(self) -> bool:
        """Ask where (and whether to de-identify), then write the report in the worker."""
        if not self.can_export():
            return False
        maps = self.w.maps_panel.default_maps()
        note = (f"The report shows the attention maps of this analysis (m = {maps.maps.copies} copies): "
                "nothing is recomputed." if maps else
                "The attention maps of this analysis are not available; the report says so in their place.")
        dialog = ExportReportDialog(self.result, self.w.app_settings.report_directory(), note, self.w)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        return self.write_report(dialog.path(), dialog.deidentify())

    def write_report(self, path: Path, deidentify: bool = True) -> bool:
        request = self.result_request
        if not self.can_export() or request is None:
            return False
        maps = self.w.maps_panel.default_maps()
        self.w.banners.clear("report")
        job = ReportRequest(Path(path), self.result, request.study, maps.maps if maps else None,
                            request.model_reference, deidentify)
        if not self.controller.start(job):
            return False
        self.w.statusBar().showMessage("Writing the report…")
        return True

    @Slot(str)
    def _on_report_written(self, path: str) -> None:
        self.last_report = Path(path)
        self.w.app_settings.set_report_directory(self.last_report.parent)
        self.w.statusBar().showMessage(f"Report saved: {path}", 8000)

    @Slot(str)
    def _on_report_failed(self, message: str) -> None:
        self.w.statusBar().clearMessage()
        self.w.banners.add("report", f"The report was not saved. {message}", "error")
