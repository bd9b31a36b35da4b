#!/usr/bin/env python
"""Classifier throughput and logits of every vote backend on this machine, against torch fp32 channels_last.

Each backend (robust/backends.py) classifies the same batch of test images in turn, repeatedly (interleaved, so
drifts in machine load hit all alike); the table gives images/s (median, min–max), the ratio of medians to torch
fp32, and over the whole split the largest |Δlogit| and the number of changed predictions against torch fp32.
Backends that are not installed, or bf16 on a CPU without native bf16, are listed as skipped.

With ``--calibration SPLIT_DIR`` it also measures OpenVINO int8 by NNCF post-training quantization, calibrated on
the first ``--calibration-images`` images of that split: a measurement only (NNCF is no dependency of the app,
install it by hand; int8 is not a backend the app offers).

    python scripts/bench_backends.py ../shared/data/cxr3/test --model cxr3-resnet18 \\
        --calibration ../shared/data/cxr3/train
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from medrdf_gui.modelzoo import load_model
from medrdf_gui.robust import backends
from medrdf_gui.robust.backends import Classifier, TorchClassifier, select_classifier
from medrdf_gui.training.data import load_image_set

CANDIDATES = [("torch", "bf16"), ("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]


class OpenVINOInt8(Classifier):
    """The model quantized to int8 by NNCF (weights and activations), compiled by OpenVINO; what NNCF leaves
    unquantized runs in f32 (OpenVINO's default on a bf16 CPU would be bf16, mixing two effects). Also used by
    check_backend_agreement.py."""

    backend, precision = "openvino", "int8"

    def __init__(self, module: torch.nn.Module, shape: tuple[int, ...], calibration: torch.Tensor) -> None:
        import nncf
        import openvino as ov

        core = ov.Core()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            backends.export_onnx(module, shape, path)
            model = core.read_model(str(path))
        data = nncf.Dataset([calibration[i : i + 1].numpy() for i in range(len(calibration))])
        quantized = nncf.quantize(model, data, subset_size=len(calibration))
        self._compiled = core.compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                               "INFERENCE_NUM_THREADS": torch.get_num_threads(),
                                                               "PERFORMANCE_HINT": "LATENCY"})
        self.ran = backends.runtime_precisions(self._compiled)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._compiled(x.detach().float().contiguous().numpy())[0])


def logits(classifier: Classifier, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([classifier(images[i : i + batch_size]).float() for i in range(0, len(images), batch_size)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split_dir", type=Path, help="test split: its images are timed and compared")
    ap.add_argument("--model", default="cxr3-resnet18")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calibration", type=Path, default=None, help="split for int8 calibration (needs nncf)")
    ap.add_argument("--calibration-images", type=int, default=300)
    args = ap.parse_args()

    model = load_model(args.model)
    card = model.card
    shape = (card.channels, *card.input_size)
    load = lambda split_dir, limit=None: load_image_set(  # noqa: E731
        split_dir.parent, split_dir.name, card.channels, card.input_size, card.classes, limit).images.float() / 255
    images = load(args.split_dir)
    batch = images[: args.batch_size]
    batch = batch.repeat((args.batch_size + len(batch) - 1) // len(batch), 1, 1, 1)[: args.batch_size]

    reference = TorchClassifier(model.module)
    classifiers: dict[str, Classifier] = {"torch fp32": reference}
    skipped: dict[str, str] = {}
    for backend, precision in CANDIDATES:
        name = f"{backends.LABELS[backend]} {precision}"
        if not backends.installed(backend):
            skipped[name] = "not installed"
        elif precision == "bf16" and not backends.native_bf16():
            skipped[name] = "no native bf16 on this CPU"
        else:
            classifier = select_classifier(model, torch.device("cpu"), backend, precision, shape)
            if classifier.label == name:
                classifiers[name] = classifier
            else:
                skipped[name] = "failed (see the log)"
    if args.calibration is not None:
        per_class = max(1, args.calibration_images // len(card.classes))
        try:
            int8 = OpenVINOInt8(model.module, shape, load(args.calibration, per_class))
            classifiers[f"OpenVINO int8 (NNCF, runs {', '.join(sorted(int8.ran))})"] = int8
        except ImportError as exc:
            skipped["OpenVINO int8"] = f"{exc.name} not installed"

    seconds: dict[str, list[float]] = {name: [] for name in classifiers}
    with torch.inference_mode():
        for classifier in classifiers.values():  # warm-up: first calls allocate and pick kernels
            classifier(batch)
        for _ in range(args.repeats):
            for name, classifier in classifiers.items():
                start = time.perf_counter()
                classifier(batch)
                seconds[name].append(time.perf_counter() - start)
    expected = logits(reference, images, args.batch_size)
    base = statistics.median(seconds["torch fp32"])
    print(f"{card.name}, batch {args.batch_size} × {shape}, {torch.get_num_threads()} threads, {args.repeats} "
          f"repeats; logits over {len(images)} images of {args.split_dir}")
    print("| backend | images/s (median, min–max) | × torch fp32 | max abs logit diff | changed predictions |")
    print("|---|---|---|---|---|")
    for name, classifier in classifiers.items():
        rates = [args.batch_size / s for s in seconds[name]]
        got = logits(classifier, images, args.batch_size)
        changed = int((got.argmax(1) != expected.argmax(1)).sum())
        print(f"| {name} | {statistics.median(rates):.1f} ({min(rates):.1f}–{max(rates):.1f}) | "
              f"{base / statistics.median(seconds[name]):.2f} | {float((got - expected).abs().max()):.2e} | "
              f"{changed} / {len(images)} |")
    for name, why in skipped.items():
        print(f"| {name} | skipped: {why} | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
