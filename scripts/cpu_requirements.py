#!/usr/bin/env python3
"""Print the requirements of the CPU bundle's build environment, one per line (``make bundle-cpu``).

Why: ``pyproject.toml`` pins torch and torchvision to the CUDA builds the development venv uses. The CPU bundle
needs torch's CPU build instead (installed separately, ``scripts/build_cpu_bundle.sh``) and no torchvision at all
(the app defines its ResNets itself, ``medrdf_gui/modelzoo/resnet.py``). Installing the project normally would
pull the CUDA torch back in, so the build environment installs the project with ``--no-deps`` plus the list this
script prints: the project's dependencies and the ``bundle`` extra (PyInstaller), read from pyproject.toml so
that they never drift from it, minus the dropped distributions.

Usage: ``python scripts/cpu_requirements.py [--pyproject PATH] [--extra NAME ...] [--drop NAME ...]``
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
#: Left out of the CPU bundle's environment: torch comes as a CPU build from elsewhere, torchvision not at all.
DROP = ("torch", "torchvision")
EXTRAS = ("bundle",)

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``PySide6_Essentials`` and ``pyside6-essentials`` are the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The distribution a PEP 508 requirement names (``"torch==2.14.1; python_version>'3'"`` → ``torch``)."""
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return canonical(match.group(1))


def filtered(requirements: Iterable[str], drop: Iterable[str] = DROP) -> list[str]:
    """``requirements`` without those naming a distribution in ``drop`` (markers and versions kept verbatim)."""
    dropped = {canonical(name) for name in drop}
    return [r.strip() for r in requirements if requirement_name(r) not in dropped]


def requirements(pyproject: Path = PYPROJECT, extras: Sequence[str] = EXTRAS, drop: Iterable[str] = DROP) -> list[str]:
    """The project's dependencies and the given extras from ``pyproject``, without ``drop``, each once."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    listed = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"cpu_requirements: pyproject.toml has no extra '{extra}'")
        listed += optional[extra]
    return list(dict.fromkeys(filtered(listed, drop)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    parser.add_argument("--extra", action="append", default=None, help=f"extras to include (default: {EXTRAS})")
    parser.add_argument("--drop", action="append", default=None, help=f"distributions to leave out (default: {DROP})")
    args = parser.parse_args(argv)
    for line in requirements(args.pyproject, tuple(args.extra or EXTRAS), tuple(args.drop or DROP)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
