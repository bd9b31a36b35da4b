"""What the app says about itself: version, component versions and licences, training data, installed models.

No Qt here: the About dialog (``app/about_dialog.py``), ``medrdf-gui --version`` and a bundle's self-test all read
the same facts. Licences are stated as the project distributes the components; :func:`declared_licence` reads
what each installed package declares in its own metadata, so a test can check that the two agree.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ._version import __version__

APP_NAME = "MedRDF Viewer"
DISCLAIMER = ("Research tool, not a medical device. Its diagnoses and maps must not be used for clinical "
              "decisions.")
SUMMARY = ("Diagnosis of radiographs with MedRDF (Xu, Zhang, Zhang 2021): many noisy, denoised copies of the "
           "image are classified, a majority vote decides, and the flag says ACCEPT only when the vote is decisive "
           "and no alert stands. Its protection against deliberate perturbations is only what was measured for "
           "each model, listed with the models; the standard models have almost none at 8/255.")
APP_LICENCE = "MIT"


def version_line() -> str:
    """``"MedRDF Viewer 0.1.0"``: what ``medrdf-gui --version`` prints."""
    return f"{APP_NAME} {__version__}"


@dataclass(frozen=True)
class Component:
    name: str
    distributions: tuple[str, ...]  # pip names to look up, first found wins
    licence: str  # as the project uses it
    keyword: str  # must occur in the package's declared licence (checked by the tests)


COMPONENTS: tuple[Component, ...] = (
    Component("PySide6 (Qt for Python)", ("PySide6-Essentials", "PySide6"),
              "LGPL-3.0 (Qt is offered under LGPLv3, GPLv2 or GPLv3; used here under LGPLv3)", "LGPL-3.0"),
    Component("PyTorch", ("torch",), "BSD-3-Clause (bundled third-party code: Apache-2.0, BSD-2-Clause, BSL-1.0, MIT)",
              "BSD-3-Clause"),
    Component("torchvision", ("torchvision",), "BSD-3-Clause", "BSD"),
    Component("pydicom", ("pydicom",), "MIT", "MIT"),
    Component("pylibjpeg", ("pylibjpeg",), "MIT", "MIT"),
    Component("pylibjpeg-openjpeg", ("pylibjpeg-openjpeg",), "MIT (OpenJPEG itself: BSD-2-Clause)", "MIT"),
    Component("pylibjpeg-rle", ("pylibjpeg-rle",), "MIT", "MIT"),
    Component("python-gdcm", ("python-gdcm",), "GDCM: BSD-3-Clause; the python-gdcm wheel declares Apache-2.0",
              "Apache"),
    Component("NumPy", ("numpy",), "BSD-3-Clause", "BSD-3-Clause"),
    Component("SciPy", ("scipy",), "BSD-3-Clause", "BSD"),
    Component("Matplotlib", ("matplotlib",), "Matplotlib License (PSF-based)", "Python Software Foundation"),
    Component("safetensors", ("safetensors",), "Apache-2.0", "Apache"),
    Component("Pillow", ("pillow", "Pillow"), "MIT-CMU (HPND)", "MIT-CMU"),
    Component("tqdm", ("tqdm",), "MPL-2.0 AND MIT", "MPL-2.0"),
)


@dataclass(frozen=True)
class Dataset:
    name: str
    used_for: str
    terms: str
    citations: tuple[str, ...]


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "COVID-19 Radiography Database (Qatar University, University of Dhaka and collaborators)",
        "chest X-ray models (cxr3: COVID-19 / normal / viral pneumonia)",
        "Published by its authors for research and educational use, citing the two papers below; the terms of "
        "the public sources it collects (Kermany et al., RSNA, BIMCV/PadChest, SIRM, ieee8023) also apply. "
        "Never for clinical diagnosis.",
        ("M.E.H. Chowdhury, T. Rahman, A. Khandakar et al. Can AI help in screening viral and COVID-19 "
         "pneumonia? IEEE Access 8, 132665–132676 (2020). doi:10.1109/ACCESS.2020.3010287",
         "T. Rahman, A. Khandakar, Y. Qiblawey et al. Exploring the effect of image enhancement techniques on "
         "COVID-19 detection using chest X-ray images. Computers in Biology and Medicine 132, 104319 (2021). "
         "doi:10.1016/j.compbiomed.2021.104319"),
    ),
    Dataset(
        "HAM10000 dermatoscopic images, in a DermaMNIST-style 28×28 rebuild (MedMNIST v2)",
        "skin-lesion models (derma7: 7 classes)",
        "HAM10000: CC BY-NC-SA 4.0 (Harvard Dataverse) or CC BY-NC 4.0 (ISIC). DermaMNIST keeps its source's "
        "non-commercial terms (CC BY-NC 4.0), although the MedMNIST v2 collection as a whole is CC BY 4.0. "
        "Non-commercial research only, with attribution.",
        ("P. Tschandl, C. Rosendahl, H. Kittler. The HAM10000 dataset, a large collection of multi-source "
         "dermatoscopic images of common pigmented skin lesions. Scientific Data 5, 180161 (2018). "
         "doi:10.1038/sdata.2018.161",
         "J. Yang, R. Shi, D. Wei et al. MedMNIST v2 – A large-scale lightweight benchmark for 2D and 3D "
         "biomedical image classification. Scientific Data 10, 41 (2023). doi:10.1038/s41597-022-01721-8"),
    ),
)


def distribution_version(names: tuple[str, ...] | str) -> str | None:
    """The installed version of the first of ``names`` found, None when none is installed."""
    for name in (names,) if isinstance(names, str) else names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def declared_licence(names: tuple[str, ...] | str) -> str:
    """What the installed package's metadata says (License-Expression, licence classifiers, or License)."""
    for name in (names,) if isinstance(names, str) else names:
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue
        expression = meta.get("License-Expression")
        if expression:
            return expression.strip()
        classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                       if c.startswith("License ::")]
        if classifiers:
            return "; ".join(classifiers)
        text = (meta.get("License") or "").strip()
        return text.splitlines()[0].strip() if text else ""
    return ""


@dataclass(frozen=True)
class ComponentRow:
    name: str
    version: str  # "not installed" when absent
    licence: str


def component_rows() -> list[ComponentRow]:
    return [ComponentRow(c.name, distribution_version(c.distributions) or "not installed", c.licence)
            for c in COMPONENTS]


def runtime_versions() -> dict[str, str]:
    """The versions a bug report needs first."""
    return {
        APP_NAME: __version__,
        "Python": platform.python_version(),
        "PyTorch": distribution_version("torch") or "not installed",
        "PySide6": distribution_version(("PySide6-Essentials", "PySide6")) or "not installed",
        "pydicom": distribution_version("pydicom") or "not installed",
    }


@dataclass(frozen=True)
class ModelRow:
    name: str
    version: str
    created: str
    sha256: str  # first 12 hex digits
    test_accuracy: str  # "93.8 %" or "not recorded"
    protection: str  # robust/validation.py's protection_summary
    description: str
    path: Path | None


def _accuracy_text(metrics: dict) -> str:
    test = metrics.get("test") if isinstance(metrics, dict) else None
    accuracy = test.get("accuracy") if isinstance(test, dict) else None
    return f"{100 * accuracy:.1f} %" if isinstance(accuracy, (int, float)) else "not recorded"


def model_rows(directory: Path | None = None) -> list[ModelRow]:
    """The installed models (``paths.models_dir()`` unless ``directory``), from their cards only (no weights read)."""
    from .modelzoo import available_cards  # torch-heavy: imported only when the models are listed
    from .robust.validation import protection_summary

    return [ModelRow(card.name, str(card.version or "—"), card.created or "—", card.sha256[:12],
                     _accuracy_text(card.metrics), protection_summary(card), card.description, card.path)
            for card in available_cards(directory)]


def about_text(models_directory: Path | None = None) -> str:
    """Everything above as plain text (for a terminal, a log, or a bundle's self-test)."""
    lines = [version_line(), SUMMARY, DISCLAIMER, f"Licence: {APP_LICENCE}", "", "Versions:"]
    lines += [f"  {name}: {version}" for name, version in runtime_versions().items()]
    lines += ["", "Installed models:"]
    models = model_rows(models_directory)
    lines += [f"  {m.name} (version {m.version}, {m.created}) sha256 {m.sha256}… test accuracy {m.test_accuracy}; {m.protection}"
              for m in models] or ["  none"]
    lines += ["", "Components:"]
    lines += [f"  {row.name} {row.version}: {row.licence}" for row in component_rows()]
    lines += ["", "Training data:"]
    for data in DATASETS:
        lines += [f"  {data.name} — {data.used_for}", f"    {data.terms}"]
        lines += [f"    Cite: {citation}" for citation in data.citations]
    return "\n".join(lines)
