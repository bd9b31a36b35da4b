"""Persistent GUI state in QSettings: the robust-analysis settings, the chosen model, recent files, geometry.

Every value is read defensively. A settings file is user-editable and survives app upgrades, so a garbled or
out-of-range value must never stop the viewer from starting: it falls back to its default (and a combination
that the engine rejects falls back to the defaults as a whole). The defaults are the app's (``APP_DEFAULTS``: the
paper's settings with adaptive sampling); the settings panel's reset gives the paper's own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QSettings

from ..explain import DEFAULT_COPIES
from ..robust import DENOISERS, NOISES, RobustSettings, SettingsError
from ..robust.settings import APP_DEFAULTS, BACKENDS, PRECISIONS, SAMPLING

log = logging.getLogger(__name__)

ORGANISATION = "MedRDF"
APPLICATION = "MedRDF Viewer"
SETTINGS_PATH_ENV = "MEDRDF_SETTINGS_PATH"
MAX_RECENT_FILES = 10
MAX_GRADCAM_COPIES = 1024

_ROBUST_GROUP = "robust"


def _optional_int(text: Any) -> int | None:
    return None if text in (None, "", "none", "None") else int(text)


def _optional_float(text: Any) -> float | None:
    return None if text in (None, "", "none", "None") else float(text)


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(text: Any) -> str:
        if str(text) not in options:
            raise ValueError(text)
        return str(text)

    return parse


def _device(text: Any) -> str:
    value = str(text).strip().lower()
    if not value:
        raise ValueError(text)
    return value


# How each RobustSettings field is parsed back from the (string-typed) settings file.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "noise": _choice(NOISES),
    "sigma": float,
    "denoiser": _choice(DENOISERS),
    "kernel": float,
    "n": int,
    "n0": int,
    "alpha": float,
    "threshold": _optional_float,
    "batch_size": int,
    "seed": _optional_int,
    "device": _device,
    "sampling": _choice(SAMPLING),
    "backend": _choice(BACKENDS),
    "precision": _choice(PRECISIONS),
}


class AppSettings:
    """Typed access to QSettings.

    ``path`` (or the ``MEDRDF_SETTINGS_PATH`` environment variable) selects an INI file, so tests and portable
    installs never touch the user's real settings; otherwise the platform's native store is used.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        chosen = path if path is not None else os.environ.get(SETTINGS_PATH_ENV)
        if chosen:
            self._store = QSettings(str(chosen), QSettings.Format.IniFormat)
        else:
            self._store = QSettings(ORGANISATION, APPLICATION)
        self.problems: list[str] = []  # what could not be read, for the window to tell the user once
        self._damaged = False
        status = self._store.status()
        if status == QSettings.Status.AccessError:
            self._problem(f"the settings file {self._store.fileName()} cannot be read or written")
        elif status == QSettings.Status.FormatError:
            # Trust nothing from a damaged file, and keep a copy before Qt rewrites it on exit: nothing is lost.
            self._damaged = True
            backup = self._backup_damaged_file()
            self._problem(f"the settings file {self._store.fileName()} is damaged"
                          + (f" (a copy was kept as {backup})" if backup else ""))

    def _backup_damaged_file(self) -> str | None:
        source = self._store.fileName()
        target = f"{source}.damaged"
        try:
            shutil.copyfile(source, target)
        except OSError:
            return None
        return target

    def _problem(self, text: str) -> None:
        log.warning("settings: %s; using defaults", text)
        if text not in self.problems:
            self.problems.append(text)

    @property
    def file_name(self) -> str:
        return self._store.fileName()

    def sync(self) -> None:
        self._store.sync()

    # Robust settings -------------------------------------------------------------------------------------------

    def robust_settings(self) -> RobustSettings:
        """The saved settings, each unreadable field replaced by its default; the defaults if they don't validate."""
        defaults = APP_DEFAULTS
        values: dict[str, Any] = {}
        for f in fields(RobustSettings):
            key = f"{_ROBUST_GROUP}/{f.name}"
            parser = _PARSERS.get(f.name)
            if self._damaged or parser is None or not self._store.contains(key):
                continue  # a field this GUI does not know yet keeps its engine default
            raw = self._store.value(key)
            try:
                values[f.name] = parser(raw)
            except (TypeError, ValueError):
                self._problem(f"the saved value of '{f.name}' is unreadable")
        try:
            return defaults.with_(**values).validate()
        except (SettingsError, TypeError, ValueError) as exc:
            self._problem(f"the saved analysis settings are invalid ({exc})")
            return defaults

    def save_robust_settings(self, settings: RobustSettings) -> None:
        for name, value in settings.to_dict().items():
            self._store.setValue(f"{_ROBUST_GROUP}/{name}", "" if value is None else value)

    def gradcam_copies(self) -> int:
        """Copies m averaged for the defended Grad-CAM map (default 32; unreadable or out of range → default)."""
        try:
            value = int(self._store.value("maps/gradcam_copies", DEFAULT_COPIES))
        except (TypeError, ValueError):
            return DEFAULT_COPIES
        return value if 1 <= value <= MAX_GRADCAM_COPIES else DEFAULT_COPIES

    def set_gradcam_copies(self, copies: int) -> None:
        self._store.setValue("maps/gradcam_copies", int(copies))

    # Model ------------------------------------------------------------------------------------------------------

    def model_reference(self) -> str | None:
        """Shipped model name or card path last chosen (None when never chosen or unreadable)."""
        value = self._store.value("model/reference")
        return value if isinstance(value, str) and value.strip() else None

    def set_model_reference(self, reference: str | None) -> None:
        self._store.setValue("model/reference", reference or "")

    def custom_model_cards(self) -> list[str]:
        """Card files loaded with "Load model card…", so they stay in the model list across sessions."""
        return self._string_list("model/custom_cards")

    def set_custom_model_cards(self, paths: list[str]) -> None:
        self._store.setValue("model/custom_cards", json.dumps(list(paths)))

    # Recent files -----------------------------------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        return self._string_list("files/recent")[:MAX_RECENT_FILES]

    def add_recent_file(self, path: str | os.PathLike[str]) -> list[str]:
        text = str(Path(path).resolve())
        files = [text] + [p for p in self.recent_files() if p != text]
        files = files[:MAX_RECENT_FILES]
        self._store.setValue("files/recent", json.dumps(files))
        return files

    def clear_recent_files(self) -> None:
        self._store.setValue("files/recent", json.dumps([]))

    def last_directory(self) -> str:
        value = self._store.value("files/last_directory")
        return value if isinstance(value, str) and os.path.isdir(value) else str(Path.home())

    def set_last_directory(self, directory: str | os.PathLike[str]) -> None:
        self._store.setValue("files/last_directory", str(directory))

    def report_directory(self) -> str:
        """Where the last report was saved (home at first: never the image's folder, whose name may identify)."""
        value = self._store.value("files/report_directory")
        return value if isinstance(value, str) and os.path.isdir(value) else str(Path.home())

    def set_report_directory(self, directory: str | os.PathLike[str]) -> None:
        self._store.setValue("files/report_directory", str(directory))

    # Window -----------------------------------------------------------------------------------------------------

    def window_geometry(self) -> QByteArray | None:
        value = self._store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self._store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._store.setValue("window/geometry", geometry)
        self._store.setValue("window/state", state)

    # Helpers ----------------------------------------------------------------------------------------------------

    def _string_list(self, key: str) -> list[str]:
        """A JSON list of strings (JSON, not QSettings lists, because INI files read a one-item list back as a str)."""
        raw = self._store.value(key)
        if not isinstance(raw, str) or not raw:
            return []
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            self._problem(f"the saved '{key}' list is unreadable")
            return []
        return [item for item in data if isinstance(item, str)] if isinstance(data, list) else []
