"""MedRDF Viewer: diagnosis of chest radiographs with MedRDF, flagged ACCEPT or RE-EVALUATE.

The public scripting API is re-exported here lazily, so that ``import medrdf_gui`` stays cheap (no torch, no
pydicom) for tools that only need the version string:

    >>> import medrdf_gui
    >>> study = medrdf_gui.load_study("chest.dcm")
    >>> model = medrdf_gui.load_model("cxr3-resnet18")
    >>> result = medrdf_gui.robust_predict(model, model.input_tensor("chest.dcm"), n=1000, seed=0)
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "load_study", "load_model", "robust_predict", "StudyLoadError", "Result"]

_LAZY = {
    "load_study": ("medrdf_gui.imaging", "load_study"),
    "StudyLoadError": ("medrdf_gui.imaging", "StudyLoadError"),
    "load_model": ("medrdf_gui.modelzoo", "load_model"),
    "robust_predict": ("medrdf_gui.robust", "robust_predict"),
    "Result": ("medrdf_gui.robust", "Result"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'medrdf_gui' has no attribute {name!r}")
