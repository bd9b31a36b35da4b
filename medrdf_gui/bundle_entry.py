"""Entry point of the desktop bundle: ``medrdf-viewer [--self-test …] [--version] [FILE|FOLDER]``.

Why a separate script instead of ``medrdf_gui.app.main``: ``--self-test`` and ``--version`` must work on a
machine without a display (an install script, a server, a monitoring job), so they are dispatched here before
anything imports Qt. Every other invocation is the viewer, unchanged.
"""

from __future__ import annotations

import sys
from typing import Sequence


def version_text() -> str:
    """``MedRDF Viewer 0.1.0``: the About facts' version line when available, else the bare package version."""
    try:
        from medrdf_gui.about import version_line
    except ImportError:  # about.py is optional for the entry point; the version itself always exists
        from medrdf_gui._version import __version__

        return f"MedRDF Viewer {__version__}"
    return version_line()


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``--self-test`` (rest of the arguments go to the self-test) and ``--version``; else start the GUI."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from medrdf_gui import selftest

        args.remove("--self-test")
        return selftest.main(args)
    if args == ["--version"] or args == ["-V"]:
        print(version_text())
        return 0
    from medrdf_gui.app.main import main as gui_main

    return int(gui_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
