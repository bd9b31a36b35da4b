"""Model cards: the JSON file beside each ``.safetensors`` that says what the weights are and how to feed them.

The card is the contract between training, inference, Grad-CAM and the report: class order, input size,
channels and normalisation are read from it and nowhere else.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelLoadError


def _setting_key(e: dict[str, Any]) -> tuple:
    if e.get("noise") is None:  # the base model's row has no MedRDF setting
        return (None, 0.0, None, 0.0)
    return (e["noise"], float(e["sigma"]), e["denoiser"], 0.0 if e["denoiser"] == "none" else float(e["kernel"]))


# The worst-case accuracy (%) an envelope keeps: the "largest ε at which worst-case accuracy stays ≥ 80 %".
ENVELOPE_FLOOR = 80.0


def envelopes(robustness: list[dict[str, Any]], floor: float = ENVELOPE_FLOOR) -> list[dict[str, Any]]:
    """Per row (the base model, or one MedRDF setting): the largest measured ε up to which *every* measured ε kept
    worst-case accuracy ≥ ``floor`` (``epsilon`` 0.0 when even the smallest measured ε fell below it), with the
    measurement at that ε, the measured budgets and the first one that fell below (None: none did, so the
    envelope may reach further than was measured). Derived from ``robustness`` only; nothing is interpolated."""
    rows: dict[tuple, list[dict[str, Any]]] = {}
    for entry in robustness:
        rows.setdefault((entry["row"], *_setting_key(entry)), []).append(entry)
    out = []
    for key, entries in rows.items():
        entries = sorted(entries, key=lambda e: float(e["epsilon"]))
        kept = None
        below = None
        for entry in entries:
            if float(entry["worst_case_accuracy"]) < floor:
                below = entry
                break
            kept = entry
        setting = {k: entries[0][k] for k in ("noise", "sigma", "denoiser", "kernel") if k in entries[0]}
        out.append({
            "row": key[0], **setting, "floor": floor,
            "epsilon": float(kept["epsilon"]) if kept else 0.0,
            "worst_case_accuracy": kept["worst_case_accuracy"] if kept else None,
            "images": kept["images"] if kept else None,
            "attacks": list(kept.get("attacks") or []) if kept else [],
            "first_below": None if below is None else {"epsilon": float(below["epsilon"]),
                                                       "worst_case_accuracy": below["worst_case_accuracy"],
                                                       "images": below["images"]},
            "measured_eps": [float(e["epsilon"]) for e in entries],
        })
    return out


def _merge(recorded: list[dict[str, Any]], entries: list[dict[str, Any]], key: Any) -> int:
    """Merge ``entries`` into ``recorded`` in place: new keys are appended, a known key is replaced only by a
    measurement on at least as many images. Returns how many entries were added or replaced."""
    index = {key(e): i for i, e in enumerate(recorded)}
    changed = 0
    for entry in entries:
        i = index.get(key(entry))
        if i is None:
            index[key(entry)] = len(recorded)
            recorded.append(dict(entry))
        elif entry["images"] >= recorded[i]["images"]:
            recorded[i] = dict(entry)
        else:
            continue
        changed += 1
    return changed


@dataclass
class ModelCard:
    name: str
    architecture: str  # key of modelzoo.architectures.ARCHITECTURES
    classes: list[str]  # output index order
    input_size: tuple[int, int]  # (height, width)
    channels: int  # 1 (grey) or 3 (RGB)
    mean: list[float]
    std: list[float]
    weights: str  # file name relative to the card's folder
    sha256: str  # of the weights file
    display_names: dict[str, str] = field(default_factory=dict)
    arch_options: dict[str, Any] = field(default_factory=dict)
    target_layer: str = "net.layer4"  # Grad-CAM default
    description: str = ""
    version: str = "1"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    # natural accuracy per measured MedRDF setting (``medrdf evaluate --update-card``; robust/validation.py)
    defences: list[dict[str, Any]] = field(default_factory=list)
    # measured worst-case accuracy under attack, per row (base model or a MedRDF setting) and ε
    # (``medrdf evaluate --update-card``; robust/validation.py turns it into the result's protection notice)
    robustness: list[dict[str, Any]] = field(default_factory=list)
    # out-of-scope detector (``medrdf scope fit``; modelzoo/scope.py): method, feature layer, threshold, the
    # validation flag rate, and the statistics file beside the card with its sha256; empty = never fitted
    scope: dict[str, Any] = field(default_factory=dict)
    # adversarial-input detector (``medrdf detector fit``; robust/squeeze.py): method, squeezers, threshold and the
    # validation flag rate; empty = none fitted, no detector alert
    detector: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    path: Path | None = field(default=None, compare=False)  # where the card was read from (not serialised)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def weights_path(self) -> Path:
        base = self.path.parent if self.path is not None else Path.cwd()
        return base / self.weights

    def display_name(self, class_name: str) -> str:
        return self.display_names.get(class_name, class_name)

    def merge_defences(self, entries: list[dict[str, Any]]) -> int:
        """Add measured defence settings; one replaces a recorded one of the same setting only when it was
        measured on at least as many images. Returns how many entries were added or replaced."""
        return _merge(self.defences, entries, _setting_key)

    def merge_robustness(self, entries: list[dict[str, Any]]) -> int:
        """Add measured worst-case accuracies (one per row and ε), by the same rule as :meth:`merge_defences`."""
        return _merge(self.robustness, entries,
                      lambda e: (e["row"], round(float(e["epsilon"]) * 255, 3), *_setting_key(e)))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        data["input_size"] = list(self.input_size)
        # derived from ``robustness`` for readers of the JSON (hospital IT, an auditor); ignored on load
        data["envelope"] = envelopes(self.robustness)
        return data

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename): an interrupted save leaves the old card intact."""
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelLoadError(f"Model card {path} does not exist.") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"Model card {path} cannot be read.") from exc
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"Model card {path} is not valid JSON (line {exc.lineno}).") from exc
        if not isinstance(data, dict):
            raise ModelLoadError(f"Model card {path} is not a JSON object.")
        known = {f for f in cls.__dataclass_fields__ if f != "path"}
        missing = [k for k in ("name", "architecture", "classes", "input_size", "channels", "mean", "std", "weights", "sha256") if k not in data]
        if missing:
            raise ModelLoadError(f"Model card {path} lacks: {', '.join(missing)}.")
        try:
            card = cls(**{k: v for k, v in data.items() if k in known})
            card.input_size = (int(card.input_size[0]), int(card.input_size[1]))
            card.channels = int(card.channels)
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelLoadError(f"Model card {path} has a field of the wrong type.") from exc
        if card.channels not in (1, 3) or len(card.mean) != card.channels or len(card.std) != card.channels:
            raise ModelLoadError(f"Model card {path}: channels, mean and std disagree.")
        if len(card.classes) < 2:
            raise ModelLoadError(f"Model card {path} lists fewer than two classes.")
        card.path = path
        return card
