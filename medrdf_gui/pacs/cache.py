"""Where retrieved series land: a folder per series, complete or absent, never half-written.

Layout: ``<root>/<study key>/<series key>/<instance number>-<instance key>.dcm``. The keys are the first 16 hex
digits of the SHA-256 of the UID: folder names carry no identifier (not even the UIDs, which a folder listing or
a recent-files menu would spread), and the instance number first makes "next image" follow the series order.

A series is received into a hidden staging folder (``.staging-*``) beside the series folders and moved into place
with one ``rename`` only once every image has arrived; a failure, a cancel or a crash leaves at most a staging
folder, which the next store of the same root removes once it is a day old. With a size limit the store is a
cache: before a series is moved in, the least recently used series are evicted until it fits.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from .. import paths
from .errors import CACHE, PacsError

log = logging.getLogger(__name__)
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
STALE_STAGING_S = 24 * 3600
MB = 1 << 20


def uid_key(uid: str) -> str:
    return hashlib.sha256(uid.encode("ascii", "replace")).hexdigest()[:16]


def default_cache_root(configured: str = "") -> Path:
    return Path(configured).expanduser() if configured else paths.cache_dir() / "pacs"


def cache_error(root: Path, exc: OSError, what: str = "write to") -> PacsError:
    """One sentence for a file-system failure under ``root``."""
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return PacsError(f"The cache folder {root} is full (no space left on its disk); nothing was kept.", CACHE)
    if code == errno.EROFS:
        return PacsError(f"The cache folder {root} is on a read-only file system; nothing was kept.", CACHE)
    if code in (errno.EACCES, errno.EPERM):
        return PacsError(f"Cannot {what} the cache folder {root} (permission denied); nothing was kept.", CACHE)
    if code in (errno.ENOTDIR, errno.EEXIST):
        return PacsError(f"The cache folder {root} is not a folder (a file of that name is in the way).", CACHE)
    return PacsError(f"Cannot {what} the cache folder {root} ({exc.strerror or type(exc).__name__}); nothing was "
                     "kept.", CACHE)


def _write_file(path: Path, data: bytes) -> None:
    """One instance file (a seam for the tests' fault injection)."""
    with open(path, "xb") as fh:
        fh.write(data)


class Staging:
    """A series being received. ``add`` writes an instance; ``commit`` moves the whole series into place."""

    def __init__(self, store: "SeriesStore", study_uid: str, series_uid: str, folder: Path) -> None:
        self.store, self.study_uid, self.series_uid, self.folder = store, study_uid, series_uid, folder
        self.bytes = 0
        self.count = 0

    def add(self, sop_instance_uid: str, instance_number: int | None, data: bytes) -> Path:
        limit = self.store.limit_bytes
        if limit is not None and self.bytes + len(data) > limit:
            raise PacsError(f"The series is larger than the whole cache ({limit / MB:,.0f} MB); raise the cache "
                            "size in the PACS settings. Nothing was kept.", CACHE)
        number = instance_number if instance_number is not None and 0 <= instance_number < 10**6 else 999_999
        path = self.folder / f"{number:06d}-{uid_key(sop_instance_uid)}.dcm"
        try:
            _write_file(path, data)
        except FileExistsError:  # the same instance sent twice: keep the first copy
            return path
        except OSError as exc:
            raise cache_error(self.store.root, exc) from None
        self.bytes += len(data)
        self.count += 1
        return path

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def commit(self) -> Path:
        """Evict what must go, then rename the staging folder to the series folder; returns that folder."""
        target = self.store.series_dir(self.study_uid, self.series_uid)
        try:
            for path in self.folder.iterdir():  # the bytes must be on disk before the rename makes them visible
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
            self.store.make_room(self.bytes, keep=target)
            target.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if target.exists():  # a retrieve again: swap, then drop the old copy
                old = self.store.root / f"{TRASH_PREFIX}{uid_key(self.series_uid)}-{os.getpid()}-{time.monotonic_ns()}"
                os.rename(target, old)
            os.rename(self.folder, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            os.utime(target)
        except OSError as exc:
            self.discard()
            raise cache_error(self.store.root, exc) from None
        except BaseException:
            self.discard()
            raise
        return target


class SeriesStore:
    """The folder that receives series (the app's cache, or ``medrdf pacs get --out DIR``)."""

    def __init__(self, root: str | os.PathLike[str], limit_bytes: int | None = None) -> None:
        self.root = Path(root).expanduser()
        self.limit_bytes = limit_bytes
        self._clean_stale()

    def _clean_stale(self) -> None:
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return
        now = time.time()
        for entry in entries:
            if entry.name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
                try:
                    if now - entry.stat().st_mtime > STALE_STAGING_S or entry.name.startswith(TRASH_PREFIX):
                        shutil.rmtree(entry, ignore_errors=True)
                except OSError:
                    pass

    def series_dir(self, study_uid: str, series_uid: str) -> Path:
        return self.root / uid_key(study_uid) / uid_key(series_uid)

    def cached(self, study_uid: str, series_uid: str) -> Path | None:
        """The series folder when the series was retrieved before (it is then marked as just used)."""
        folder = self.series_dir(study_uid, series_uid)
        if folder.is_dir() and any(folder.glob("*.dcm")):
            try:
                os.utime(folder)
            except OSError:
                pass
            return folder
        return None

    def begin(self, study_uid: str, series_uid: str) -> Staging:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.root))
        except OSError as exc:
            raise cache_error(self.root, exc, "create") from None
        return Staging(self, study_uid, series_uid, folder)

    def series_folders(self) -> list[Path]:
        """Every complete series folder (staging and trash excluded)."""
        folders = []
        try:
            for study in self.root.iterdir():
                if study.is_dir() and not study.name.startswith("."):
                    folders.extend(s for s in study.iterdir() if s.is_dir() and not s.name.startswith("."))
        except OSError:
            return folders
        return folders

    @staticmethod
    def folder_bytes(folder: Path) -> int:
        total = 0
        for path in folder.iterdir():
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    def usage(self) -> int:
        return sum(self.folder_bytes(f) for f in self.series_folders())

    def make_room(self, incoming: int, keep: Path | None = None) -> list[Path]:
        """Evict least recently used series until ``incoming`` more bytes fit under the limit; the evicted folders."""
        if self.limit_bytes is None:
            return []
        if incoming > self.limit_bytes:
            raise PacsError(f"The series ({incoming / MB:,.1f} MB) is larger than the whole cache "
                            f"({self.limit_bytes / MB:,.0f} MB); raise the cache size in the PACS settings. Nothing "
                            "was kept.", CACHE)
        folders = [(f.stat().st_mtime, f, self.folder_bytes(f)) for f in self.series_folders() if f != keep]
        used = sum(size for _, _, size in folders)
        evicted = []
        for _, folder, size in sorted(folders, key=lambda item: item[0]):
            if used + incoming <= self.limit_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            try:
                folder.parent.rmdir()  # the study folder, when that was its last series
            except OSError:
                pass
            used -= size
            evicted.append(folder)
        if evicted:
            log.info("PACS cache: evicted %d series to stay under %d MB", len(evicted), self.limit_bytes // MB)
        return evicted
