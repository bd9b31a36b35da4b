"""Alerts: evidence about *this* image or run that keeps the app from vouching for a diagnosis.

The flag a radiologist reads (``Result.verdict``) is ACCEPT only when the paper's RM rule accepts *and* no alert
stands. Each alert has a stable ``code`` (JSON, audit log, evaluation records, the detection tables) and a
sentence for people. Facts about the *model* (how well it resists a deliberate perturbation, measured) are not
alerts: they would fire on every image and teach the reader to ignore alerts; they travel as the result's
standing ``protection`` notice instead.

This module imports nothing from the app, so loaders, the engine, reports and the GUI can all share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

# The codes, in the order the results panel shows them (most specific to this image first).
BASE_DISAGREEMENT = "base-disagreement"  # the model on the clean image and the defended vote disagree
SQUEEZE = "squeeze"  # the answer moves when the image is squeezed (feature-squeezing detector, robust/squeeze.py)
OUT_OF_SCOPE = "out-of-scope"  # the image is unlike the model's training images (scope detector)
NOT_CHEST_RADIOGRAPH = "not-chest-radiograph"  # the file's own header says another modality or body part
DAMAGED_IMAGE = "damaged-image"  # the decoder reported damaged data
UNVALIDATED_SETTING = "unvalidated-setting"  # the noise/denoiser was not validated for this model
ORDER = (BASE_DISAGREEMENT, SQUEEZE, OUT_OF_SCOPE, NOT_CHEST_RADIOGRAPH, DAMAGED_IMAGE, UNVALIDATED_SETTING)

TITLES = {
    BASE_DISAGREEMENT: "Base model and defended vote disagree",
    SQUEEZE: "Answer unstable under squeezing",
    OUT_OF_SCOPE: "Outside the model's scope",
    NOT_CHEST_RADIOGRAPH: "Not a chest radiograph",
    DAMAGED_IMAGE: "Damaged image",
    UNVALIDATED_SETTING: "Settings not validated for this model",
}


@dataclass(frozen=True)
class Alert:
    code: str  # one of ORDER
    message: str  # one or two sentences for the reader

    @property
    def title(self) -> str:
        return TITLES.get(self.code, self.code)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alert":
        return cls(str(data["code"]), str(data["message"]))


def merge(alerts: Iterable[Alert], more: Iterable[Alert]) -> list[Alert]:
    """``alerts`` plus ``more`` without repeats, in the display order of ``ORDER`` (unknown codes last)."""
    out: list[Alert] = []
    for alert in [*alerts, *more]:
        if alert not in out:
            out.append(alert)
    rank = {code: i for i, code in enumerate(ORDER)}
    return sorted(out, key=lambda a: rank.get(a.code, len(ORDER)))


def codes(alerts: Iterable[Alert]) -> list[str]:
    return [a.code for a in alerts]
