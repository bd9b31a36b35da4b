#!/usr/bin/env python
"""Measure the out-of-scope scores of docs/scope.md: every candidate score, every set, raw per-image numbers.

For each model it extracts the pooled stage features and logits once per image set (cached, keyed by the
weights' hash), fits every candidate score on the training split and calibrates its threshold on the validation
split exactly as ``medrdf scope fit`` does, and writes

* ``<out>/<model>.csv``: one row per image: set, item, label, the model's class, every score and its flag;
* ``<out>/summary.json``: per set and score the flag rate at the threshold and the AUROC against the
  in-distribution test split, the per-class figures, skipped files, and the shipped card's scope entry;

then prints the markdown tables of docs/scope.md. When the card already carries a scope, its threshold must equal
the one refitted here to within float rounding (same images, same arithmetic); a mismatch stops the run.

Candidates: ``energy`` (Liu et al. 2020); ``penultimate`` (Lee et al. 2018 on the last stage only: shared
covariance, minimum over classes); ``stages-unscaled`` (all stages summed, each divided by its median training
distance); ``mahalanobis`` (the shipped score: all stages, each class's distances divided by that class's own
median, modelzoo/scope.py).

Sets: the model's own train/val/test splits; the other data set's test split (and derma7's 224 px copy of it);
the DICOM files of ``dicom/`` (chest radiographs apart from the rest; non-image files, which the loader refuses,
are listed as skipped); generated noise and flat images; and, for grey radiograph models, the test split
inverted (1 − x: a MONOCHROME1 file read as MONOCHROME2).

    nice -n 10 .venv/bin/python scripts/scope_measure.py cxr3-resnet18 derma7-resnet18 --out docs/results/scope
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Iterator

import torch

from medrdf_gui import paths
from medrdf_gui.imaging import StudyLoadError
from medrdf_gui.modelzoo import load_model
from medrdf_gui.modelzoo.registry import LoadedModel
from medrdf_gui.modelzoo.scope import StageStats, auroc, calibrate_threshold, energy_scores, stage_layers
from medrdf_gui.modelzoo.scope_fit import dataset_of, features_and_logits, file_inputs, fit_from_features, split_files

SEED = 20261126
CHEST_DICOM_PREFIX = "cxr_"  # the real chest radiographs of dicom/ (README (a)); everything else is not chest
SYNTHETIC_EACH = 20
CANDIDATES = ("energy", "penultimate", "stages-unscaled", "mahalanobis")
Features = dict[str, torch.Tensor]


def synthetic_inputs(model: LoadedModel) -> tuple[list[str], torch.Tensor]:
    """Noise and flat images at the model's input size: uniform noise, gaussian noise around mid-grey, smooth
    (low-frequency) noise, and 21 flat images from black to white."""
    c, (h, w) = model.card.channels, model.card.input_size
    g = torch.Generator().manual_seed(SEED)
    names, images = [], []
    for i in range(SYNTHETIC_EACH):
        names.append(f"uniform-noise-{i:02d}")
        images.append(torch.rand(1, c, h, w, generator=g))
        names.append(f"gaussian-noise-{i:02d}")
        images.append((0.5 + 0.2 * torch.randn(1, c, h, w, generator=g)).clamp(0, 1))
        names.append(f"smooth-noise-{i:02d}")
        coarse = torch.rand(1, c, max(2, h // 16), max(2, w // 16), generator=g)
        images.append(torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False))
    for i in range(21):
        names.append(f"flat-{i / 20:.2f}")
        images.append(torch.full((1, c, h, w), i / 20))
    return names, torch.cat(images)


def dicom_inputs(model: LoadedModel, folder: Path) -> tuple[list[str], list[torch.Tensor], dict[str, str]]:
    """Frame 1 of every DICOM file the loader accepts; refused files come back as {name: reason}."""
    names, tensors, skipped = [], [], {}
    for path in sorted(folder.glob("*.dcm")):
        try:
            tensors.append(model.input_tensor(path))
            names.append(path.name)
        except StudyLoadError as exc:
            skipped[path.name] = str(exc)
    return names, tensors, skipped


class Extractor:
    """Features and logits per named set, cached on disk by model weights and set name."""

    def __init__(self, model: LoadedModel, cache: Path) -> None:
        self.model = model
        self.layers = model.card.scope.get("layers") or stage_layers(model.module)
        self.cache = cache / f"{model.name}-{model.sha256[:12]}"
        self.cache.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, inputs: Iterator[torch.Tensor] | list[torch.Tensor],
                 total: int) -> tuple[Features, torch.Tensor]:
        path = self.cache / f"{name}.pt"
        if path.is_file():
            saved = torch.load(path, weights_only=True)
            return saved["features"], saved["logits"]

        def progress(done: int, all_: int) -> None:
            if done >= all_ or done % 640 == 0:
                print(f"  {self.model.name} {name}: {done}/{all_}", file=sys.stderr, flush=True)

        features, logits = features_and_logits(self.model, inputs, self.layers, 32, total, progress)
        torch.save({"features": features, "logits": logits}, path)
        return features, logits


def measure(model: LoadedModel, data: Path, cache: Path, out: Path) -> dict:
    extract = Extractor(model, cache)
    card = model.card
    own = dataset_of(model)
    other = "derma7" if own == "cxr3" else "cxr3"
    classes = card.classes

    train_files, train_labels = split_files(data / own, "train", classes)
    train_f, _ = extract("train", file_inputs(model, train_files), len(train_files))
    val_files, val_labels = split_files(data / own, "val", classes)
    val_f, val_l = extract("val", file_inputs(model, val_files), len(val_files))
    shipped_fit = fit_from_features(model, "mahalanobis", extract.layers, (train_f, train_labels), (val_f, val_l))
    scorers = candidate_scorers(shipped_fit.stats, train_f, train_labels)
    thresholds = {m: calibrate_threshold(scorers[m](val_f, val_l)) for m in CANDIDATES}
    assert thresholds["mahalanobis"] == shipped_fit.entry["threshold"]
    shipped = card.scope
    if shipped and not math.isclose(thresholds[shipped["method"]], float(shipped["threshold"]), rel_tol=1e-6):
        raise SystemExit(f"{model.name}: the card's threshold {shipped['threshold']} differs from the refit "
                         f"{thresholds[shipped['method']]}; refit the card or clear the cache")

    def scores(features: Features, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: scorers[m](features, logits) for m in CANDIDATES}

    sets: dict[str, dict] = {}

    def add(name: str, kind: str, items: list[str], labels: list[str], features: Features,
            logits: torch.Tensor) -> None:
        sets[name] = {"kind": kind, "items": items, "labels": labels, "pred": logits.argmax(1).tolist(),
                      "scores": scores(features, logits)}

    rel = lambda files: [str(p.relative_to(data)) for p in files]  # noqa: E731
    add("val", "in-distribution (calibration)", rel(val_files), [classes[i] for i in val_labels], val_f, val_l)
    test_files, test_labels = split_files(data / own, "test", classes)
    test_inputs = [model.input_tensor(p) for p in test_files]
    f, lg = extract("test", test_inputs, len(test_inputs))
    add("test", "in-distribution", rel(test_files), [classes[i] for i in test_labels], f, lg)

    other_classes = sorted(p.name for p in (data / other / "test").iterdir() if p.is_dir())
    other_files, other_labels = split_files(data / other, "test", other_classes)
    f, lg = extract(f"{other}-test", file_inputs(model, other_files), len(other_files))
    add(f"{other} test", "cross-data-set", rel(other_files), [other_classes[i] for i in other_labels], f, lg)
    if other == "derma7" and (data / "derma7" / "test_224").is_dir():
        big_files, big_labels = split_files(data / "derma7", "test_224", other_classes)
        f, lg = extract("derma7-test_224", file_inputs(model, big_files), len(big_files))
        add("derma7 test_224", "cross-data-set", rel(big_files), [other_classes[i] for i in big_labels], f, lg)

    names, tensors, skipped = dicom_inputs(model, data / "dicom")
    f, lg = extract("dicom", tensors, len(tensors))
    chest = [i for i, n in enumerate(names) if n.startswith(CHEST_DICOM_PREFIX)]
    rest = [i for i, n in enumerate(names) if not n.startswith(CHEST_DICOM_PREFIX)]
    add("non-chest DICOM", "must flag", [f"dicom/{names[i]}" for i in rest], [""] * len(rest),
        {k: v[rest] for k, v in f.items()}, lg[rest])
    add("chest DICOM (other sources)", "chest radiographs, not training data", [f"dicom/{names[i]}" for i in chest],
        [""] * len(chest), {k: v[chest] for k, v in f.items()}, lg[chest])

    names, images = synthetic_inputs(model)
    f, lg = extract("synthetic", list(images.split(1)), len(names))
    add("noise and flat", "must flag", names, [""] * len(names), f, lg)

    if card.channels == 1:
        f, lg = extract("test-inverted", [1 - x for x in test_inputs], len(test_inputs))
        add("inverted test", "must flag", [f"inverted:{p}" for p in rel(test_files)],
            [classes[i] for i in test_labels], f, lg)

    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{model.name}.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["set", "item", "label", "model_class", *CANDIDATES, *(f"flag_{m}" for m in CANDIDATES)])
        for name, s in sets.items():
            for i, item in enumerate(s["items"]):
                values = [float(s["scores"][m][i]) for m in CANDIDATES]
                writer.writerow([name, item, s["labels"][i], classes[s["pred"][i]], *(f"{v:.6g}" for v in values),
                                 *(int(v > thresholds[m]) for v, m in zip(values, CANDIDATES))])

    reference = sets["test"]["scores"]
    summary = {"model": model.name, "weights_sha256": model.sha256, "layers": extract.layers, "thresholds": thresholds,
               "shrinkage": shipped_fit.entry["shrinkage"], "train_images": len(train_files),
               "card_scope": shipped, "skipped_dicom": skipped, "sets": {}, "per_class_test": {}, "per_class_val": {}}
    for name, s in sets.items():
        row = {"kind": s["kind"], "images": len(s["items"])}
        for m in CANDIDATES:
            values = s["scores"][m]
            row[m] = {"flag_rate": float((values > thresholds[m]).double().mean()),
                      "flagged": int((values > thresholds[m]).sum()),
                      "median": float(values.median()),
                      "auroc_vs_test": None if name in ("test", "val") else auroc(reference[m], values)}
        summary["sets"][name] = row
    for split in ("test", "val"):
        for cls in classes:
            idx = [i for i, label in enumerate(sets[split]["labels"]) if label == cls]
            values = sets[split]["scores"]
            summary[f"per_class_{split}"][cls] = {"images": len(idx), **{
                m: {"flag_rate": float((values[m][idx] > thresholds[m]).double().mean()),
                    "median": float(values[m][idx].median())} for m in CANDIDATES}}
    return summary


def candidate_scorers(stats: StageStats | None, train_f: Features, labels: torch.Tensor) -> dict:
    """Every candidate score as a function of (pooled stage features, logits); all share the shipped fit's
    per-stage means and covariances and differ only in how they combine the distances."""
    assert stats is not None
    last = list(stats.stages)[-1]
    global_scale = {name: st.distances(train_f[name]).gather(1, labels.view(-1, 1)).median()
                    for name, st in stats.stages.items()}

    def unscaled(features: Features, _logits: torch.Tensor) -> torch.Tensor:
        return sum(st.distances(features[n]) / global_scale[n] for n, st in stats.stages.items()).amin(dim=1)

    return {
        "energy": lambda _f, logits: energy_scores(logits),
        "penultimate": lambda f, _l: stats.stages[last].distances(f[last]).amin(dim=1),
        "stages-unscaled": unscaled,
        "mahalanobis": lambda f, _l: stats.scores(f),
    }


def markdown(summary: dict) -> str:
    t = summary["thresholds"]
    lines = [f"### {summary['model']}", "", "Flagged at each score's validation threshold (count):", "",
             "| set | images | " + " | ".join(CANDIDATES) + " |", "|---|---:|" + "---:|" * len(CANDIDATES)]
    for name, row in summary["sets"].items():
        lines.append(f"| {name} | {row['images']} | " + " | ".join(
            f"{100 * row[m]['flag_rate']:.1f} % ({row[m]['flagged']})" for m in CANDIDATES) + " |")
    lines += ["", "AUROC against the in-distribution test split:", "",
              "| set | " + " | ".join(CANDIDATES) + " |", "|---|" + "---:|" * len(CANDIDATES)]
    for name, row in summary["sets"].items():
        if row[CANDIDATES[0]]["auroc_vs_test"] is not None:
            lines.append(f"| {name} | " + " | ".join(f"{row[m]['auroc_vs_test']:.3f}" for m in CANDIDATES) + " |")
    lines += ["", "Thresholds: " + ", ".join(f"{m} {t[m]:.4g}" for m in CANDIDATES) + ".", "",
              "Per class, flagged on test (val):", "",
              "| class | test images | " + " | ".join(CANDIDATES) + " |", "|---|---:|" + "---:|" * len(CANDIDATES)]
    for cls, r in summary["per_class_test"].items():
        v = summary["per_class_val"][cls]
        lines.append(f"| {cls} | {r['images']} | " + " | ".join(
            f"{100 * r[m]['flag_rate']:.1f} % ({100 * v[m]['flag_rate']:.0f} %)" for m in CANDIDATES) + " |")
    if summary["skipped_dicom"]:
        skipped = "; ".join(f"`{k}`: {v}" for k, v in summary["skipped_dicom"].items())
        lines += ["", f"Skipped (refused by the loader): {skipped}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data-dir", type=Path, default=paths.data_dir())
    parser.add_argument("--out", type=Path, default=Path("docs/results/scope"))
    parser.add_argument("--cache", type=Path, default=paths.cache_dir() / "scope-measure")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    summaries = {}
    for name in args.models:
        summaries[name] = measure(load_model(name), args.data_dir, args.cache, args.out)
        print(markdown(summaries[name]) + "\n", flush=True)
    path = args.out / "summary.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**previous, **summaries}, indent=2) + "\n")


if __name__ == "__main__":
    main()
