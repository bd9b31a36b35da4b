"""The main window's actions (menu items, toolbar buttons and keyboard shortcuts), defined in one place."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from .resources import icon


def _action(parent: QWidget, text: str, icon_name: str = "", shortcuts: tuple = (), tip: str = "",
            checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    hint = tip or text.replace("&", "").rstrip("…")
    if shortcuts:
        hint += f" ({QKeySequence(shortcuts[0]).toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(hint)
    action.setStatusTip(tip or hint)
    action.setCheckable(checkable)
    return action


class ViewerActions:
    """Every QAction of the main window; the window connects them, menus and toolbars only place them."""

    def __init__(self, parent: QWidget) -> None:
        self.open_file = _action(parent, "&Open image…", "open", (QKeySequence.StandardKey.Open,),
                                 "Open a DICOM or image file")
        self.open_folder = _action(parent, "Open &folder…", "open-folder", ("Ctrl+Shift+O",),
                                   "Open a folder of studies and step through it")
        self.open_from_pacs = _action(parent, "Open from &PACS…", "open-folder", ("Ctrl+Shift+P",),
                                      "Find a study on a PACS, retrieve it and open it")
        self.previous_study = _action(parent, "&Previous study", "previous", ("PgUp", "Alt+Left"),
                                      "Previous study in the folder")
        self.next_study = _action(parent, "&Next study", "next", ("PgDown", "Alt+Right"), "Next study in the folder")
        self.quit = _action(parent, "&Quit", "", (QKeySequence.StandardKey.Quit,))

        self.zoom_in = _action(parent, "Zoom &in", "zoom-in", (QKeySequence.StandardKey.ZoomIn, "+", "="))
        self.zoom_out = _action(parent, "Zoom &out", "zoom-out", (QKeySequence.StandardKey.ZoomOut, "-"))
        self.fit = _action(parent, "&Fit to window", "fit", ("F",))
        self.actual_size = _action(parent, "&Actual pixels (1:1)", "actual-size", ("1",))
        self.invert = _action(parent, "&Invert", "invert", ("I",), "Invert the grey levels", checkable=True)
        self.reset_view = _action(parent, "&Reset view", "reset", ("R",), "Default window, no invert, fit to window")
        self.show_identifiers = _action(parent, "Show identifiers", "identifiers", ("Ctrl+Shift+I",),
                                        "Show patient and study identifiers (hidden by default)", checkable=True)

        self.analyze = _action(parent, "&Analyze", "analyze", ("F5", "Ctrl+Return"),
                               "Run the MedRDF analysis (a vote over noisy, denoised copies) on the shown image")
        self.cancel = _action(parent, "&Cancel analysis", "cancel", ("Esc",), "Stop the running analysis")
        self.cancel.setIconText("Cancel")
        self.export_report = _action(parent, "&Export report…", "report", ("Ctrl+E",),
                                     "Save a one-page PDF report of the shown result")
        self.send_to_pacs = _action(parent, "&Send to PACS…", "report", (),
                                    "File the report and a structured report into this image's study on a PACS")
        self.show_maps = _action(parent, "Attention &maps", "maps", ("Ctrl+M",),
                                 "Show the Grad-CAM maps of the base and the defended model")

        self.load_model_card = _action(parent, "Load model card…", "model", (),
                                       "Use a model from a card file (.json)")
        self.refresh_models = _action(parent, "Refresh installed models", "", (),
                                      "Look again for models in the models folder")
        self.reset_settings = _action(parent, "Reset to paper defaults", "reset", (),
                                      "σ = 0.1 salt & pepper, 3×3 median, n = 10,000, α = 0.001")
        self.about = _action(parent, "&About MedRDF Viewer", "", ())

    def view_actions(self) -> list[QAction]:
        """Actions that need an image on screen."""
        return [self.zoom_in, self.zoom_out, self.fit, self.actual_size, self.invert, self.reset_view]
