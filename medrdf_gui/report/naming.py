"""Where ``medrdf predict --report SPEC`` writes each image's report.

SPEC is one of
  * a file ``out.pdf`` — one image only; its folder must exist;
  * a folder (existing, or ending in ``/``; created if missing) — one PDF per image, named ``<image stem>.pdf``,
    or ``<pixel hash>.pdf`` with ``--deidentify`` (the file name of an image may identify the patient);
  * a pattern with ``{stem}`` and/or ``{hash}`` (12 hex digits of the pixel SHA-256), e.g.
    ``reports/{stem}-{hash}.pdf`` (folders created if missing); with ``--deidentify`` ``{stem}`` is replaced by
    the hash as well.
Two images that would get the same name in one run get ``-<hash>`` appended, so no report overwrites another.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ReportError

PLACEHOLDERS = ("{stem}", "{hash}")


def _is_pattern(spec: str) -> bool:
    return any(p in spec for p in PLACEHOLDERS)


def _is_folder(spec: str) -> bool:
    return spec.endswith(("/", os.sep)) or Path(spec).is_dir()


def check_report_target(spec: str, image_count: int) -> None:
    """Refuse, before any work, a single-file SPEC for several images (each report would overwrite the last)."""
    if "{" in spec and not _is_pattern(spec):
        raise ReportError(f"Cannot write the report {spec}: the pattern knows only {{stem}} and {{hash}}.")
    if image_count > 1 and not (_is_pattern(spec) or _is_folder(spec)):
        raise ReportError(f"Cannot write the report {spec}: {image_count} images need a folder or a "
                          "pattern with {stem}/{hash}, not one file.")


def report_path_for(spec: str, image: Path, pixel_hash: str, *, deidentify: bool, many: bool,
                    used: set[Path] | None = None) -> Path:
    """The report path of ``image`` under SPEC (see the module doc); records it in ``used``."""
    key = pixel_hash[:12]
    stem = key if deidentify else Path(image).stem
    if _is_pattern(spec):
        try:
            target = Path(spec.format(stem=stem, hash=key))
        except (KeyError, IndexError, ValueError):
            raise ReportError(f"Cannot write the report {spec}: the pattern knows only {{stem}} and {{hash}}.") from None
    elif _is_folder(spec) or many:
        target = Path(spec) / f"{stem}.pdf"
    else:
        return Path(spec)  # one file: its folder must exist (a typo should fail, not create folders)
    if used is not None:
        if target in used:
            target = target.with_name(f"{target.stem}-{key}{target.suffix}")
        used.add(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"Cannot write the report {target}: cannot create its folder ({exc.strerror or 'error'}).") from None
    return target
