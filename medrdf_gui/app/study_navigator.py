"""Stepping through a folder of studies (pure Python, no Qt).

Files are listed the way ``medrdf predict`` expands folders (recursively, sorted, hidden files skipped), so the
GUI's "next study" order and the CLI's batch order are the same.
"""

from __future__ import annotations

from pathlib import Path

from ..imaging.loader import DICOM_SUFFIXES, RASTER_SUFFIXES

STUDY_SUFFIXES = frozenset(DICOM_SUFFIXES | RASTER_SUFFIXES)


def list_studies(folder: Path) -> list[Path]:
    """Candidate study files under ``folder`` (the loader decides later whether each really is an image)."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in STUDY_SUFFIXES:
            files.append(path)
    return files


class StudyNavigator:
    """A list of study files and the position of the one shown."""

    def __init__(self, files: list[Path] | None = None, folder: Path | None = None) -> None:
        self.files: list[Path] = list(files or [])
        self.folder = folder
        self.index = 0 if self.files else -1

    @classmethod
    def for_folder(cls, folder: Path) -> "StudyNavigator":
        return cls(list_studies(folder), folder)

    @property
    def current(self) -> Path | None:
        return self.files[self.index] if 0 <= self.index < len(self.files) else None

    @property
    def is_folder(self) -> bool:
        return self.folder is not None

    def has_next(self) -> bool:
        return 0 <= self.index < len(self.files) - 1

    def has_previous(self) -> bool:
        return self.index > 0

    def step(self, offset: int) -> Path | None:
        """Move by ``offset`` (±1) and return the new current file, or None at either end."""
        target = self.index + offset
        if not 0 <= target < len(self.files):
            return None
        self.index = target
        return self.files[target]

    def position_text(self) -> str:
        """``"Study 3 / 12"`` for folders, "" for a single file."""
        if not self.is_folder or not self.files:
            return ""
        return f"Study {self.index + 1} / {len(self.files)}"
