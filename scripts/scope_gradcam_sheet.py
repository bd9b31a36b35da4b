#!/usr/bin/env python
"""A Grad-CAM contact sheet: where the model looks on a random sample of each test class (docs/scope.md).

Each cell is the model's input (what it actually sees, at its input size) under the base model's Grad-CAM for
its own prediction, blended half and half as in the report, captioned with the true class, the prediction and
the scope score (``*`` when out of scope). A last row shows the chest radiographs of ``dicom/`` from other
sources. Burned-in text, side markers and borders stay visible under the blend, so one can see whether the map
sits on them rather than on the lungs; each map's peak (row, column in the input) is printed too.

    nice -n 10 .venv/bin/python scripts/scope_gradcam_sheet.py cxr3-resnet18 --per-class 8 \
        --out docs/scope-gradcam-cxr3.png
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from medrdf_gui import paths
from medrdf_gui.explain import base_gradcam
from medrdf_gui.modelzoo import load_model
from medrdf_gui.modelzoo.registry import LoadedModel
from medrdf_gui.modelzoo.scope_fit import dataset_of, features_and_logits, split_files

SEED = 20261126
BLEND = 0.5  # heat-map share of each pixel, as in the report (report/figure.py)


def short_name(stem: str, width: int = 28) -> str:
    """The longest tail of ``_``-separated parts of a file name that fits a caption."""
    parts = stem.split("_")
    while len(parts) > 1 and len("_".join(parts)) > width:
        parts.pop(0)
    return "_".join(parts)[-width:]


def cell(model: LoadedModel, x: torch.Tensor) -> tuple[np.ndarray, int, float, tuple[int, int]]:
    """(RGB overlay, predicted class index, scope score, the map's peak (row, column)) of one model input
    [1, C, H, W]."""
    cam = base_gradcam(model, x)
    peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
    features, logits = features_and_logits(model, [x], model.scope.layers if model.scope else [])
    score = float(model.scope.scores(features, logits)[0]) if model.scope else float("nan")
    image = x[0].mean(dim=0).numpy()
    heat = colormaps["jet"](cam)[..., :3]
    overlay = (1 - BLEND) * np.repeat(image[..., None], 3, axis=2) + BLEND * heat
    return np.clip(overlay, 0, 1), int(logits.argmax(dim=1)[0]), score, (int(peak[0]), int(peak[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="cxr3-resnet18")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--data-dir", type=Path, default=paths.data_dir())
    parser.add_argument("--out", type=Path, default=Path("docs/scope-gradcam-cxr3.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    card = model.card
    rng = random.Random(SEED)
    rows: list[tuple[str, list[tuple[str, Path]]]] = []
    for name in card.classes:
        files, _ = split_files(args.data_dir / dataset_of(model), "test", [name])
        sample = sorted(rng.sample(files, args.per_class))
        rows.append((f"test: {card.display_name(name)}", [(name, p) for p in sample]))
    chest = sorted((args.data_dir / "dicom").glob("cxr_*.dcm"))[: args.per_class]
    if chest:
        rows.append(("chest DICOM, other sources", [("", p) for p in chest]))

    cols = args.per_class
    fig = Figure(figsize=(1.7 * cols, 1.95 * len(rows) + 0.5))
    threshold = model.scope.threshold if model.scope else float("nan")
    fig.suptitle(f"{card.name}: base-model Grad-CAM ({card.target_layer}) for its own prediction; "
                 f"S = scope score (threshold {threshold:.3g}, * = out of scope)", fontsize=9)
    for r, (title, items) in enumerate(rows):
        for c, (truth, path) in enumerate(items):
            overlay, predicted, score, peak = cell(model, model.input_tensor(path))
            print(f"{title}\t{path.name}\t→ {card.classes[predicted]}\tscore {score:.3g}\t"
                  f"Grad-CAM peak (row, column) {peak}")
            ax = fig.add_subplot(len(rows), cols, r * cols + c + 1)
            ax.imshow(overlay, interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            flag = "*" if score > threshold else ""
            label = card.display_name(truth) if truth else short_name(path.stem)
            ax.set_title(f"{label}\n→ {card.display_name(card.classes[predicted])}, S {score:.3g}{flag}", fontsize=6.5)
            if c == 0:
                ax.set_ylabel(title, fontsize=7.5)
    fig.subplots_adjust(left=0.03, right=0.99, bottom=0.01, top=0.93, wspace=0.05, hspace=0.35)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
