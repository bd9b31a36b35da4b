"""The main window: wires the image view, the study panels, the settings and the analysis together.

It holds the app's state (the shown study, the folder being stepped through, the request behind the shown
result) and decides what is enabled; the widgets themselves only display and report user intent.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QStackedWidget, QTabWidget, QVBoxLayout,
                               QWidget)

from ..imaging import Study, StudyLoadError, load_study
from ..modelzoo import DEFAULT_MODEL
from .dialogs.about_dialog import AboutDialog
from .dialogs.pacs_dialog import OpenFromPacsDialog
from .dialogs.pacs_send import SendToPacs
from .actions import ViewerActions
from .analysis.analysis_flow import AnalysisFlow
from .app_settings import AppSettings
from .dynamic_menus import ModelMenu, RecentFilesMenu
from .view.frame_selector import FrameSelector
from .view.image_view import ImageView
from .panels.maps_panel import MapsPanel
from .panels.message_banner import BannerArea
from .panels.model_selector import NO_MODEL_TEXT, is_untrained
from .panels.results_panel import ResultsPanel
from .panels.settings_panel import SettingsPanel
from .panels.study_info_panel import StudyInfoPanel
from .study_navigator import StudyNavigator
from .panels.tags_panel import TagsPanel
from .panels.welcome_page import WelcomePage
from .window_chrome import build_toolbar, fill_menu
from .view.window_preset_box import describe_window
from .view.zoomable_view import ZoomableView

log = logging.getLogger(__name__)

APP_TITLE = "MedRDF Viewer"
OPEN_FILTERS = ("DICOM and images (*.dcm *.dicom *.dic *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;"
                "DICOM files (*.dcm *.dicom *.dic);;Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)")
_WELCOME_PAGE, _VIEWER_PAGE = 0, 1
IMAGE_TAB, MAPS_TAB = 0, 1


def local_paths(mime: QMimeData) -> list[Path]:
    """Local files and folders carried by a drag."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()] if mime.hasUrls() else []


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app_settings = settings or AppSettings()
        self.actions = ViewerActions(self)
        self.flow = AnalysisFlow(self)
        self.controller = self.flow.controller
        self.navigator = StudyNavigator()
        self.pacs_send = SendToPacs(self)
        self.study: Study | None = None
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._build_central()
        self._build_docks()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self._restore()
        self._update_model_state()
        self._update_actions()

    # Construction -------------------------------------------------------------------------------------------------

    def _build_central(self) -> None:
        self.banners = BannerArea()
        self.view = ImageView()
        self.maps_panel = MapsPanel()
        self.viewer_tabs = QTabWidget()
        self.viewer_tabs.setDocumentMode(True)
        self.viewer_tabs.addTab(self.view, "Image")
        self.viewer_tabs.addTab(self.maps_panel, self.actions.show_maps.icon(), "Attention maps")
        self.welcome = WelcomePage()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.viewer_tabs)
        self.frame_selector = FrameSelector()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banners)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.frame_selector)
        self.setCentralWidget(central)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setTitleBarWidget(QWidget())  # the tabs already name each panel; a title bar would repeat it
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.info_panel = StudyInfoPanel(self.actions.show_identifiers)
        self.tags_panel = TagsPanel(self.actions.show_identifiers)
        study_tabs = QTabWidget()
        study_tabs.addTab(self.info_panel, "Study information")
        study_tabs.addTab(self.tags_panel, "DICOM tags")
        self.study_dock = self._dock("Study", "studyDock", study_tabs, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.results_panel = ResultsPanel(self.actions.analyze, (self.actions.show_maps, self.actions.export_report))
        self.settings_panel = SettingsPanel(self.app_settings.custom_model_cards())
        self.analysis_dock = self._dock("MedRDF analysis", "analysisDock", self.results_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.settings_dock = self._dock("Settings", "settingsDock", self.settings_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea, QTabWidget.TabPosition.North)
        self.tabifyDockWidget(self.analysis_dock, self.settings_dock)
        self.analysis_dock.raise_()

    def _build_toolbar(self) -> None:
        bar, self.preset_box = build_toolbar(self.actions)
        self.addToolBar(bar)

    def _build_menus(self) -> None:
        a, bar = self.actions, self.menuBar()
        self.recent_menu = RecentFilesMenu(self.app_settings, self)
        self.recent_menu.fileChosen.connect(self.open_path)
        self.recent_menu.cleared.connect(lambda: self.welcome.set_recent_files([]))
        self.model_menu = ModelMenu(self.settings_panel.model_selector, [a.load_model_card, a.refresh_models], self)
        docks = [dock.toggleViewAction() for dock in (self.study_dock, self.analysis_dock, self.settings_dock)]
        fill_menu(bar.addMenu("&File"), [a.open_file, a.open_folder, a.open_from_pacs, self.recent_menu, None,
                                         a.export_report, a.send_to_pacs, None,
                                         a.previous_study, a.next_study, None, a.quit])
        fill_menu(bar.addMenu("&View"), [a.zoom_in, a.zoom_out, a.fit, a.actual_size, None, a.invert, a.reset_view,
                                         None, a.show_maps, None, a.show_identifiers, None, *docks])
        fill_menu(bar.addMenu("&Analysis"), [a.analyze, a.cancel, None, a.show_maps, a.export_report, a.send_to_pacs])
        fill_menu(bar.addMenu("&Settings"), [self.model_menu, a.reset_settings])
        fill_menu(bar.addMenu("&Help"), [a.about])

    def _build_status_bar(self) -> None:
        self.pixel_label = QLabel()
        self.window_label = QLabel()
        self.zoom_label = QLabel()
        self.position_label = QLabel()
        status = self.statusBar()
        status.addWidget(self.pixel_label, 1)
        for label in (self.window_label, self.zoom_label, self.position_label):
            status.addPermanentWidget(label)

    def _connect(self) -> None:
        a = self.actions
        a.open_file.triggered.connect(self.choose_file)
        a.open_folder.triggered.connect(self.choose_folder)
        a.open_from_pacs.triggered.connect(self.open_from_pacs)
        a.send_to_pacs.triggered.connect(self.pacs_send.choose_and_send)
        a.previous_study.triggered.connect(lambda: self.step_study(-1))
        a.next_study.triggered.connect(lambda: self.step_study(1))
        a.quit.triggered.connect(self.close)
        a.zoom_in.triggered.connect(lambda: self.current_view().zoom_in())
        a.zoom_out.triggered.connect(lambda: self.current_view().zoom_out())
        a.fit.triggered.connect(lambda: self.current_view().fit())
        a.actual_size.triggered.connect(lambda: self.current_view().actual_size())
        a.invert.toggled.connect(self.view.set_inverted)
        a.reset_view.triggered.connect(self.reset_view)
        a.show_identifiers.toggled.connect(self.info_panel.set_show_identifiers)
        a.show_identifiers.toggled.connect(self.tags_panel.set_show_identifiers)
        a.analyze.triggered.connect(self.analyze)
        a.cancel.triggered.connect(self.cancel_analysis)
        a.load_model_card.triggered.connect(self.settings_panel.model_selector.choose_card_file)
        a.refresh_models.triggered.connect(self.settings_panel.model_selector.refresh)
        a.reset_settings.triggered.connect(self.settings_panel.reset_to_defaults)
        a.about.triggered.connect(self.show_about)
        a.export_report.triggered.connect(self.flow.export_report)
        a.show_maps.triggered.connect(lambda: self.viewer_tabs.setCurrentIndex(MAPS_TAB))

        self.welcome.openFileRequested.connect(self.choose_file)
        self.welcome.openFolderRequested.connect(self.choose_folder)
        self.welcome.recentFileRequested.connect(self.open_path)
        self.view.pixelHovered.connect(self.pixel_label.setText)
        self.view.windowChanged.connect(self._on_window_changed)
        self.view.zoomChanged.connect(self._show_zoom)
        self.view.rendered.connect(lambda: self.maps_panel.set_image(self.view.pixmap()))
        self.maps_panel.base_pane.zoomChanged.connect(self._show_zoom)
        self.maps_panel.pixelHovered.connect(self.pixel_label.setText)
        self.maps_panel.classRequested.connect(self.flow.request_class_maps)
        self.maps_panel.cancelRequested.connect(self.cancel_analysis)
        self.viewer_tabs.currentChanged.connect(self._on_tab_changed)
        self.preset_box.presetChosen.connect(self.view.set_window)
        self.frame_selector.frameRequested.connect(self.show_frame)
        self.settings_panel.settingsChanged.connect(self._on_settings_changed)
        self.settings_panel.modelChanged.connect(self._on_model_changed)
        self.settings_panel.gradcamCopiesChanged.connect(self.app_settings.set_gradcam_copies)
        self.settings_panel.model_selector.problem.connect(lambda text: self.banners.add("model-card", text, "error"))

        self.results_panel.cancelRequested.connect(self.cancel_analysis)
        self.controller.runningChanged.connect(lambda _: self._update_actions())
        self.controller.finished.connect(lambda *_: self._update_actions())

    def _first_start_size(self) -> QSize:
        """1440×900, or less where the screen is smaller (a 1366×768 laptop): never wider or taller than it."""
        wanted = QSize(1440, 900)
        screen = self.screen() or QGuiApplication.primaryScreen()
        return wanted if screen is None else wanted.boundedTo(screen.availableGeometry().size())

    def _restore(self) -> None:
        """Saved settings, model and geometry; anything missing or unreadable keeps its default."""
        self.settings_panel.set_settings(self.app_settings.robust_settings())
        self.settings_panel.gradcam_copies.setValue(self.app_settings.gradcam_copies())
        selector = self.settings_panel.model_selector
        if not selector.set_reference(self.app_settings.model_reference()):
            selector.set_reference(DEFAULT_MODEL)  # else the first installed model, if any, stays selected
        self.welcome.set_recent_files(self.app_settings.recent_files())
        geometry, state = self.app_settings.window_geometry(), self.app_settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(self._first_start_size())
        self._first_layout_pending = state is None or not self.restoreState(state)
        if self.app_settings.problems:
            self.banners.add("settings", "Some saved settings could not be read, so defaults are used: "
                             + "; ".join(self.app_settings.problems) + ".", "warning")

    # Opening studies ------------------------------------------------------------------------------------------------

    @Slot()
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.app_settings.last_directory(), OPEN_FILTERS)
        if path:
            self.open_path(path)

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder of studies", self.app_settings.last_directory())
        if folder:
            self.open_folder(folder)

    @Slot(str)
    def open_path(self, path: str | Path) -> bool:
        """Open a file (or a folder of studies); on failure the current image stays and a banner says why."""
        path = Path(path)
        if path.is_dir():
            return self.open_folder(path)
        study = self._load(path)
        if study is None:
            return False
        self.navigator = StudyNavigator([path])
        self._show_study(study)
        return True

    def open_folder(self, folder: str | Path) -> bool:
        folder = Path(folder)
        navigator = StudyNavigator.for_folder(folder)
        if not navigator.files:
            self._report_load_error(f"No image or DICOM files found in the folder {folder.name}.")
            return False
        self.navigator = navigator
        self.app_settings.set_last_directory(folder)
        return self._show_navigator_study()

    @Slot()
    def open_from_pacs(self) -> OpenFromPacsDialog:
        """File ▸ Open from PACS… (window-modal, without blocking the event loop); the retrieved study opens as a
        folder, so stepping through its images works as for a local folder."""
        dialog = OpenFromPacsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.studyRetrieved.connect(self.open_folder)
        dialog.open()
        return dialog

    def open_files(self, paths: list[Path]) -> bool:
        """Several dropped files: step through them like a folder."""
        files = [p for p in paths if p.is_file()]
        if len(files) <= 1:
            return self.open_path(paths[0]) if paths else False
        self.navigator = StudyNavigator(files, folder=files[0].parent)
        return self._show_navigator_study()

    @Slot(int)
    def step_study(self, offset: int) -> bool:
        if self.navigator.step(offset) is None:
            return False
        return self._show_navigator_study()

    @Slot(int)
    def show_frame(self, index: int) -> bool:
        if self.study is None or index == self.study.frame_index:
            return False
        study = self._load(self.study.path, index)
        if study is None:
            self.frame_selector.set_frames(self.study.frame_count, self.study.frame_index)  # stay in step
            return False
        self._show_study(study, same_file=True)
        return True

    def _show_navigator_study(self) -> bool:
        """Show the navigator's current file; a file that fails clears the view, so image and position agree."""
        path = self.navigator.current
        study = self._load(path) if path is not None else None
        if study is None:
            self._clear_study()
            return False
        self._show_study(study)
        return True

    def _load(self, path: Path, frame: int = 0) -> Study | None:
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return load_study(path, frame)
        except StudyLoadError as exc:
            self._report_load_error(str(exc))
        except Exception as exc:  # noqa: BLE001 - a loader bug must not take the viewer down
            log.exception("unexpected error loading a study")
            self._report_load_error(f"{path.name} could not be opened (unexpected {type(exc).__name__}).")
        finally:
            QGuiApplication.restoreOverrideCursor()
        self._update_actions()
        return None

    def _report_load_error(self, message: str) -> None:
        self.banners.clear("load")
        self.banners.add("load", message, "error")

    def _show_study(self, study: Study, same_file: bool = False) -> None:
        self._stop_analysis_for_new_image()
        self.study = study
        self.view.set_study(study, keep_view=same_file)
        self.actions.invert.setChecked(self.view.inverted)
        self.preset_box.set_study(study)
        self.preset_box.show_window(self.view.window)
        self.frame_selector.set_frames(study.frame_count, study.frame_index)
        self.info_panel.set_study(study)
        self.tags_panel.set_study(study)
        self.banners.clear("load")
        self.banners.clear("study")
        for warning in study.warnings:
            self.banners.add("study", warning, "warning")
        self.stack.setCurrentIndex(_VIEWER_PAGE)
        self.setWindowTitle(f"{study.path.name} — {APP_TITLE}")
        if not same_file:
            self.welcome.set_recent_files(self.app_settings.add_recent_file(study.path))
            self.app_settings.set_last_directory(study.path.parent)
        self.flow.reset(self.idle_message())
        self._update_actions()

    def _clear_study(self) -> None:
        self._stop_analysis_for_new_image()
        self.study = None
        self.view.clear()
        self.preset_box.set_study(None)
        self.frame_selector.set_frames(1, 0)
        self.info_panel.set_study(None)
        self.tags_panel.set_study(None)
        self.banners.clear("study")
        self.stack.setCurrentIndex(_WELCOME_PAGE)
        self.setWindowTitle(APP_TITLE)
        self.flow.reset(self.idle_message())
        self._update_actions()

    @Slot()
    def reset_view(self) -> None:
        self.view.reset()
        self.actions.invert.setChecked(False)

    @Slot(object)
    def _on_window_changed(self, window: object) -> None:
        self.preset_box.show_window(window)  # type: ignore[arg-type]
        self.window_label.setText(describe_window(window))  # type: ignore[arg-type]

    # Views --------------------------------------------------------------------------------------------------------

    def current_view(self) -> ZoomableView:
        """The view the zoom actions act on: the image, or the (synced) attention-map panes."""
        return self.maps_panel.base_pane if self.viewer_tabs.currentIndex() == MAPS_TAB else self.view

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        """The tab shown next shows the region the other one showed (or fits, if that one was fitted)."""
        panes = self.maps_panel.base_pane
        source, target = (self.view, panes) if index == MAPS_TAB else (panes, self.view)
        if source.image_size() == (0, 0) or source.fit_mode:
            target.fit()
        else:
            target.show_region(source.visible_scene_rect())
        self._show_zoom(target.zoom)

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"Zoom {100 * zoom:.0f} %")

    # Analysis (the work is done by self.flow) ---------------------------------------------------------------------

    def can_analyze(self) -> tuple[bool, str]:
        return self.flow.can_analyze()

    @Slot()
    def analyze(self) -> bool:
        return self.flow.analyze()

    @Slot()
    def cancel_analysis(self) -> None:
        self.flow.cancel()

    def _stop_analysis_for_new_image(self) -> None:
        self.flow.stop_for_new_image()

    # Settings -------------------------------------------------------------------------------------------------------

    @Slot()
    def _on_settings_changed(self) -> None:
        if self.settings_panel.validation_error() is None:
            self.app_settings.save_robust_settings(self.settings_panel.settings())
        self.flow.update_stale()
        self._update_actions()

    @Slot()
    def _on_model_changed(self) -> None:
        self.app_settings.set_model_reference(self.settings_panel.model_reference())
        self.app_settings.set_custom_model_cards(self.settings_panel.model_selector.custom_cards())
        self._update_model_state()
        self.flow.update_stale()
        self._update_actions()

    def _update_model_state(self) -> None:
        self.banners.clear("model")
        card = self.settings_panel.model_selector.card()
        if card is None:
            self.banners.add("model", NO_MODEL_TEXT, "warning")
            self.welcome.set_model_status(NO_MODEL_TEXT)
            self.results_panel.set_model_note("", False)
        else:
            untrained = is_untrained(card)
            note = f"Model: {card.name}"
            if untrained:
                note += " — UNTRAINED test model (random weights): its outputs mean nothing."
            self.welcome.set_model_status(note)
            self.results_panel.set_model_note(note, untrained)
        if self.results_panel.result is None and not self.controller.is_running:
            self.results_panel.set_status(self.idle_message())

    def idle_message(self) -> str:
        if self.settings_panel.model_reference() is None:
            return NO_MODEL_TEXT
        if self.study is None:
            return "Open an image, then press Analyze."
        return "Press Analyze to run the MedRDF analysis (a vote over noisy, denoised copies) on this image."

    # State ----------------------------------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        a = self.actions
        has_study = self.study is not None
        for action in a.view_actions():
            action.setEnabled(has_study)
        a.previous_study.setEnabled(self.navigator.has_previous())
        a.next_study.setEnabled(self.navigator.has_next())
        allowed, why = self.can_analyze()
        a.analyze.setEnabled(allowed)
        a.analyze.setToolTip(why)
        a.cancel.setEnabled(self.controller.kind in ("analysis", "maps"))
        a.export_report.setEnabled(self.flow.can_export())
        a.send_to_pacs.setEnabled(self.pacs_send.can_send())
        a.show_maps.setEnabled(has_study)
        self.position_label.setText(self.navigator.position_text())

    @Slot()
    def show_about(self) -> AboutDialog:
        """Help ▸ About (window-modal, without blocking the event loop)."""
        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # Events ---------------------------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        # Open after the drop returns, so the drag source is not blocked while a large file decodes.
        QTimer.singleShot(0, lambda: self.open_files(paths) if len(paths) > 1 else self.open_path(paths[0]))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._first_layout_pending:  # dock sizes only stick once the window has its real size
            self._first_layout_pending = False
            QTimer.singleShot(0, lambda: self.resizeDocks([self.study_dock, self.analysis_dock], [330, 400],
                                                          Qt.Orientation.Horizontal))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Cancel and join a running analysis before the window (and its thread's owner) goes away."""
        self.controller.shutdown()
        self.pacs_send.shutdown()
        self.app_settings.save_window(self.saveGeometry(), self.saveState())
        self.app_settings.sync()
        super().closeEvent(event)
