"""The training recipes of the shipped models, in one place so the card can record exactly what was run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .augment import AugmentConfig


@dataclass(frozen=True)
class Recipe:
    name: str  # model name, also the card/weights file stem
    dataset: str  # folder under the data dir
    architecture: str
    channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    # Progressive resizing: (epochs, resolution) stages; the last stage runs at input_size.
    stages: tuple[tuple[int, int], ...]
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    class_weight_power: float = 0.0  # CE weight ∝ freq^(−power): 0 = none, 0.5 = inverse sqrt frequency
    selection_metric: str = "accuracy"  # on val: "accuracy" or "acc_bacc" (mean of accuracy and balanced accuracy)
    arch_options: dict[str, Any] = field(default_factory=dict)
    augment: AugmentConfig = AugmentConfig()
    display_names: dict[str, str] = field(default_factory=dict)
    seed: int = 20261125

    @property
    def epochs(self) -> int:
        return sum(e for e, _ in self.stages)

    def resolution_at(self, epoch: int) -> int:
        done = 0
        for count, res in self.stages:
            done += count
            if epoch < done:
                return res
        return self.stages[-1][1]

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["optimizer"] = "AdamW (betas 0.9/0.999) + OneCycle (cosine, 30% warm-up), fp32"
        return data


RECIPES: dict[str, Recipe] = {
    "cxr3-resnet18": Recipe(
        name="cxr3-resnet18",
        dataset="cxr3",
        architecture="resnet18",
        channels=1,
        input_size=224,
        mean=(0.5,),
        std=(0.25,),
        stages=((18, 128), (3, 176), (5, 224)),
        display_names={"covid": "COVID-19", "normal": "Normal", "viral_pneumonia": "Viral pneumonia"},
    ),
    "derma7-resnet18": Recipe(
        name="derma7-resnet18",
        dataset="derma7",
        architecture="resnet18",
        channels=3,
        input_size=28,
        mean=(0.76, 0.55, 0.57),
        std=(0.14, 0.15, 0.17),
        stages=((30, 28),),
        batch_size=64,
        class_weight_power=0.25,
        selection_metric="acc_bacc",
        arch_options={"small_input_stem": True, "stem_pool": True},
        augment=AugmentConfig(rotate_deg=15.0, scale=(0.9, 1.1), shift=0.05, hflip=True, vflip=True, rot90=True,
                              brightness=0.05, contrast=0.1),
        display_names={
            "akiec": "Actinic keratosis / Bowen's", "bcc": "Basal cell carcinoma", "bkl": "Benign keratosis",
            "df": "Dermatofibroma", "mel": "Melanoma", "nv": "Melanocytic nevus", "vasc": "Vascular lesion",
        },
    ),
}

# ResNet-50 (the paper's TABLE IV) on the same data with the same schedule.
RECIPES["cxr3-resnet50"] = replace(RECIPES["cxr3-resnet18"], name="cxr3-resnet50", architecture="resnet50")
