"""Only ``medrdf_gui.app`` may import Qt: the engine, loader, model zoo and CLI must run on a headless server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import medrdf_gui

PACKAGE = Path(medrdf_gui.__file__).resolve().parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6")


def test_core_packages_import_with_pyside6_blocked() -> None:
    code = (
        "import sys\n"
        "for name in ('PySide6', 'shiboken6'):\n"
        "    sys.modules[name] = None  # any import of it now raises ImportError\n"
        "import medrdf_gui.imaging, medrdf_gui.modelzoo, medrdf_gui.robust, medrdf_gui.cli, medrdf_gui.paths\n"
        "medrdf_gui.cli.build_parser()\n"
        "from medrdf_gui.robust import RobustSettings\n"
        "RobustSettings().validate()\n"
        "assert not any(m.startswith('PySide6.') for m in sys.modules), 'a PySide6 submodule was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_outside_app_imports_qt() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "app") in path.parents:
            continue
        for name in _imported_modules(path):
            if name.split(".")[0] in QT_MODULES or name.startswith("matplotlib.backends.backend_qt"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, offenders


def test_pyside_none_leak_is_guarded() -> None:
    """PySide6 6.12.0 on Python 3.11 leaks None references; importing the app must have neutralised that."""
    import medrdf_gui.app  # noqa: F401 - applies the guard
    from medrdf_gui.app.qt_compat import leaks_none_references

    if sys.version_info < (3, 12) and leaks_none_references():
        assert sys.getrefcount(None) > 2**39
