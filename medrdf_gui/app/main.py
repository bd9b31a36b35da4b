"""``medrdf-gui [FILE|FOLDER]``: start the viewer, optionally opening an image or a folder of studies."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Sequence

from PySide6.QtWidgets import QApplication

from .. import __version__
from ..about import version_line
from .app_settings import APPLICATION, ORGANISATION, AppSettings
from .main_window import MainWindow
from .resources import apply_look


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medrdf-gui",
                                     description="MedRDF Viewer: robust diagnosis of chest radiographs.")
    parser.add_argument("path", nargs="?", help="DICOM/PNG/JPEG file or a folder of studies to open")
    parser.add_argument("--settings", metavar="INI", default=None,
                        help="settings file to use instead of the per-user one (also: MEDRDF_SETTINGS_PATH)")
    parser.add_argument("--version", action="store_true", help="print the version and exit (no window is opened)")
    return parser


def application(qt_args: Sequence[str] = ()) -> QApplication:
    """The QApplication (created once), named so QSettings and the window manager know the app."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "medrdf-gui", *qt_args])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    apply_look(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def create_main_window(path: str | None = None, settings_path: str | None = None) -> MainWindow:
    """A ready window with ``path`` opened (a bad path shows its error banner; the window still opens)."""
    window = MainWindow(AppSettings(settings_path))
    if path:
        window.open_path(path)
    return window


def main(argv: Sequence[str] | None = None) -> int:
    args, qt_args = build_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if args.version:  # before any QApplication: works on a machine without a display
        print(version_line())
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl+C in the terminal quits, as users expect
    app = application(qt_args)
    window = create_main_window(args.path, args.settings)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
