#!/usr/bin/env python
"""Does a lower-precision vote backend give the verdicts torch fp32 gives, on every image of a test split?

A lower-precision backend may become the vote's automatic choice (robust/backends.py) only if, on the test
splits at fixed seeds, at least 99.9 % of the per-copy labels and 99.5 % of the verdicts (label, abstained,
accept / re-evaluate) equal torch fp32's; OpenVINO bf16 missed it (docs/performance.md), so "auto" runs fp32.
This script measures exactly that: each image runs through the real engine (``robust_predict``) twice
with the same seed, once with torch fp32 and once with the candidate, so both classify the same noisy copies in
the same order (the noise does not depend on the classifier); labels are compared copy by copy over the copies
both runs drew (adaptive sampling may stop them at different points), verdicts image by image.

    python scripts/check_backend_agreement.py ../shared/data/cxr3/test --backend openvino --precision bf16
    python scripts/check_backend_agreement.py ../shared/data/derma7/test --model derma7-resnet18 \\
        --backend openvino --precision bf16 --noise poisson

``--out FILE`` keeps one JSON line per image and resumes from it; ``--limit N`` takes the first N images of each
class (sorted), for a quicker partial check.

``--precision int8`` (OpenVINO only; needs ``pip install nncf``, which the app does not) measures post-training
int8 quantization before anything of it is built into the app: NNCF's default (mixed) preset quantizes the
exported graph, calibrated on ``--calibration`` images of the model's *training* split (default 300, class-
balanced) as the vote sees them: each image once through the settings' noise and denoiser. An int8 model would
ship only if it passed the gate here, and then as a file made offline (calibration needs training images, which
a workstation does not have).

    python scripts/check_backend_agreement.py ../shared/data/cxr3/test --backend openvino --precision int8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from medrdf_gui.modelzoo import load_model
from medrdf_gui.robust import robust_predict
from medrdf_gui.robust.backends import Classifier, TorchClassifier, select_classifier
from medrdf_gui.robust.denoise import make_denoiser
from medrdf_gui.robust.noise import make_noise
from medrdf_gui.robust.settings import APP_DEFAULTS, DENOISERS, NOISES, SAMPLING
from medrdf_gui.training.data import IMAGE_SUFFIXES

COPY_GATE, VERDICT_GATE = 0.999, 0.995


class Recording(Classifier):
    """Passes every batch to ``inner`` and keeps the logits, so two runs can be compared copy by copy."""

    def __init__(self, inner: Classifier) -> None:
        self.inner, self.backend, self.precision = inner, inner.backend, inner.precision
        self.logits: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        self.logits.append(out.detach().float().cpu())
        return out


def split_images(split_dir: Path, limit: int | None) -> list[Path]:
    images = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        images += sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    return images


def compare(model, path: Path, settings, reference: Classifier, candidate: Classifier) -> dict:
    """Both runs on one image; the record of their agreement and timings."""
    x = model.input_tensor(path)
    runs = {}
    for name, classifier in (("reference", reference), ("candidate", candidate)):
        recording = Recording(classifier)
        start = time.perf_counter()
        result = robust_predict(model, x, settings, classifier=recording)
        runs[name] = (result, torch.cat(recording.logits), time.perf_counter() - start)
    (ref, ref_logits, ref_s), (cand, cand_logits, cand_s) = runs["reference"], runs["candidate"]
    common = min(len(ref_logits), len(cand_logits))
    ref_logits, cand_logits = ref_logits[:common], cand_logits[:common]
    return {
        "path": str(path), "seed": settings.seed, "copies": common,
        "copies_agree": int((ref_logits.argmax(1) == cand_logits.argmax(1)).sum()),
        "max_logit_diff": float((ref_logits - cand_logits).abs().max()),
        "reference": [ref.label, ref.abstained, ref.verdict, ref.n_used, round(ref.rm, 4)],
        "candidate": [cand.label, cand.abstained, cand.verdict, cand.n_used, round(cand.rm, 4)],
        "seconds": [round(ref_s, 3), round(cand_s, 3)],
    }


def int8_classifier(model, settings, train_dir: Path, images: int, seed: int) -> Classifier | None:
    """The model quantized to int8 (bench_backends.OpenVINOInt8), calibrated on ``images`` class-balanced training
    images, each once through the settings' noise and denoiser; None (said on stderr) when OpenVINO did not run
    it in int8."""
    from bench_backends import OpenVINOInt8  # scripts/ is on sys.path when this script runs

    per_class: dict[str, list[Path]] = {}
    for path in split_images(train_dir, None):
        per_class.setdefault(path.parent.name, []).append(path)
    take = max(1, images // len(per_class))
    generator = torch.Generator().manual_seed(seed)
    calibration = [paths[i] for paths in per_class.values()
                   for i in torch.randperm(len(paths), generator=generator)[:take].tolist()]
    noise, denoise = make_noise(settings.noise, settings.sigma), make_denoiser(settings.denoiser, settings.kernel)
    noise_generator = torch.Generator().manual_seed(seed)
    samples = torch.cat([denoise(noise(model.input_tensor(path), noise_generator)) for path in calibration])
    start = time.perf_counter()
    shape = (model.card.channels, *model.card.input_size)
    candidate = OpenVINOInt8(model.module, shape, samples)
    if not candidate.ran & {"i8", "u8"}:
        print(f"OpenVINO ran the quantized model in {sorted(candidate.ran)}, not int8", file=sys.stderr)
        return None
    print(f"int8: quantized in {time.perf_counter() - start:.0f} s on {len(calibration)} training images; "
          f"convolutions run in {', '.join(sorted(candidate.ran))}", file=sys.stderr)
    return candidate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split_dir", type=Path)
    ap.add_argument("--model", default="cxr3-resnet18")
    ap.add_argument("--backend", default="openvino", choices=("torch", "onnxruntime", "openvino"))
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "int8"))
    ap.add_argument("--calibration", type=int, default=300, help="int8: training images to calibrate on")
    d = APP_DEFAULTS
    ap.add_argument("--noise", choices=NOISES, default=d.noise)
    ap.add_argument("--sigma", type=float, default=d.sigma)
    ap.add_argument("--denoiser", choices=DENOISERS, default=d.denoiser)
    ap.add_argument("--kernel", type=float, default=d.kernel)
    ap.add_argument("--n", type=int, default=d.n, help="copies (the cap under adaptive sampling)")
    ap.add_argument("--sampling", choices=SAMPLING, default=d.sampling)
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--seed", type=int, default=0, help="image i (in sorted order) runs with seed + i")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each class")
    ap.add_argument("--out", type=Path, default=None, help="JSON lines, one per image; an existing file is resumed")
    args = ap.parse_args()

    model = load_model(args.model)
    settings = d.with_(noise=args.noise, sigma=args.sigma, denoiser=args.denoiser, kernel=args.kernel, n=args.n,
                       sampling=args.sampling, batch_size=args.batch_size, device="cpu").validate()
    shape = (model.card.channels, *model.card.input_size)
    if args.precision == "int8":
        if args.backend != "openvino":
            ap.error("int8 is measured with --backend openvino only")
        candidate = int8_classifier(model, settings, args.split_dir.parent / "train", args.calibration, args.seed)
        if candidate is None:
            return 2
    else:
        candidate = select_classifier(model, torch.device("cpu"), args.backend, args.precision, shape)
    if (candidate.backend, candidate.precision) != (args.backend, args.precision):
        print(f"{args.backend} {args.precision} is not available here (got {candidate.label}); see the log.",
              file=sys.stderr)
        return 2
    reference = TorchClassifier(model.module)
    done: dict[str, dict] = {}
    if args.out and args.out.is_file():
        done = {r["path"]: r for r in map(json.loads, args.out.read_text().splitlines())}
    images = split_images(args.split_dir, args.limit)
    records = []
    for index, path in enumerate(images):
        record = done.get(str(path))
        if record is None:
            record = compare(model, path, settings.with_(seed=args.seed + index), reference, candidate)
            if args.out:
                with args.out.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
        records.append(record)
        print(f"\r{index + 1}/{len(images)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    copies = sum(r["copies"] for r in records)
    copy_share = sum(r["copies_agree"] for r in records) / copies
    same = [r["reference"][:3] == r["candidate"][:3] for r in records]
    verdict_share = sum(same) / len(records)
    ref_s, cand_s = (sum(r["seconds"][i] for r in records) for i in (0, 1))
    print(f"{model.card.name} on {args.split_dir} ({len(records)} images, {settings.noise} σ {settings.sigma:g} + "
          f"{settings.denoiser}, {settings.sampling} n {settings.n}, batch {settings.batch_size}, seeds "
          f"{args.seed}…{args.seed + len(images) - 1}): {candidate.label} vs torch fp32")
    print(f"  per-copy labels equal: {copy_share:.5%} of {copies:,} copies (gate ≥ {COPY_GATE:.1%})")
    print(f"  verdicts equal:        {verdict_share:.3%} of {len(records)} images (gate ≥ {VERDICT_GATE:.1%})")
    print(f"  largest |Δlogit|:      {max(r['max_logit_diff'] for r in records):.3g}")
    print(f"  time: torch fp32 {ref_s:.0f} s, {candidate.label} {cand_s:.0f} s (×{ref_s / cand_s:.2f})")
    for record, equal in zip(records, same):
        if not equal:
            print(f"  differs: {record['path']}: torch {record['reference']} vs {record['candidate']}")
    passed = copy_share >= COPY_GATE and verdict_share >= VERDICT_GATE
    print("  gate: PASSED" if passed else "  gate: FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
