"""Where the app finds its data and shipped models, with environment overrides.

Defaults follow the repository layout (``models/`` at the repo root, the shared data set beside the repo); a
PyInstaller bundle sets ``sys._MEIPASS`` and carries ``models/`` inside it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE_DIR.parent


def _bundle_root() -> Path | None:
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if meipass else None


def models_dir() -> Path:
    """Folder of shipped models (``<name>.json`` cards beside ``<name>.safetensors``)."""
    override = os.environ.get("MEDRDF_MODELS_DIR")
    if override:
        return Path(override)
    bundle = _bundle_root()
    if bundle is not None:
        return bundle / "models"
    return REPO_ROOT / "models"


def resources_dir() -> Path:
    """Icons and the stylesheet."""
    bundle = _bundle_root()
    return (bundle if bundle is not None else REPO_ROOT) / "resources"


def data_dir() -> Path:
    """The shared research data (cxr3, derma7, dicom); ``MEDRDF_DATA_DIR`` overrides ``../shared/data``."""
    override = os.environ.get("MEDRDF_DATA_DIR")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Per-user cache for training checkpoints and logs (never inside the repository)."""
    override = os.environ.get("MEDRDF_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medrdf"
