"""``medrdf bench``: throughput of the bare classifier and of the full MedRDF pipeline on the same batches.

Both loops classify the same number of copies of one image in the same batch size on the same device, with the
vote's classifier (robust/backends.py), so their ratio isolates what noise + denoise + vote cost on top of the n
forward passes no vote-based method can avoid. A third loop runs today's reference, torch fp32 in channels_last,
on the same batches, so the speed-up a faster backend brings is one number. The loops are interleaved, so drifts
in machine load hit all three alike. Every figure is measured, repeated, and reported as median and spread
(min–max).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from .backends import TorchClassifier, select_classifier
from .device import describe_device, resolve_device
from .engine import VoteSampler
from .settings import RobustSettings


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """(seconds, return value) of ``fn()``, with the device synchronised on both sides."""
    _sync(device)
    start = time.perf_counter()
    value = fn()
    _sync(device)
    return time.perf_counter() - start, value


@dataclass
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values))


@dataclass
class BenchReport:
    model: str
    device: str
    batch_size: int
    n: int
    repeats: int
    noise: str
    denoiser: str
    backend: str  # the vote's classifier, e.g. "OpenVINO bf16"
    bare_images_per_s: Spread
    pipeline_images_per_s: Spread
    baseline_images_per_s: Spread  # bare torch fp32 channels_last (the classifier before backends) on the same batches
    ratio: float  # pipeline / bare (medians)
    speedup: float  # pipeline / baseline (medians): the whole vote against bare torch fp32
    stage_ms_per_batch: dict[str, Spread]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        b, p, t = self.bare_images_per_s, self.pipeline_images_per_s, self.baseline_images_per_s
        lines = [
            f"model {self.model} · {self.device} · batch {self.batch_size} · n {self.n} · {self.repeats} repeats · "
            f"{self.noise} + {self.denoiser}",
            f"bare classifier   {b.median:10.1f} images/s  (min {b.low:.1f}, max {b.high:.1f})  {self.backend}",
            f"full pipeline     {p.median:10.1f} images/s  (min {p.low:.1f}, max {p.high:.1f})",
            f"baseline          {t.median:10.1f} images/s  (min {t.low:.1f}, max {t.high:.1f})  bare torch fp32",
            f"ratio pipeline/bare  {self.ratio:.3f}   speed-up pipeline/baseline  {self.speedup:.2f}",
            "ms per batch:  " + "  ".join(f"{k} {v.median:.2f}" for k, v in self.stage_ms_per_batch.items()),
        ]
        return "\n".join(lines)


@torch.inference_mode()
def benchmark(model, x: torch.Tensor, settings: RobustSettings, n: int = 1024, repeats: int = 5,
              warmup: int = 1) -> BenchReport:
    """Measure bare vs pipeline throughput on ``n`` copies of ``x`` ([1, C, H, W] in [0, 1])."""
    device = resolve_device(settings.device)
    module = getattr(model, "module", model).to(device).eval()
    x = x.to(device)
    bs = settings.batch_size
    sizes = [min(bs, n - i) for i in range(0, n, bs)]
    baseline = TorchClassifier(module)
    num_classes = int(baseline(x).shape[1])
    classifier = select_classifier(model, device, settings.backend, settings.precision, tuple(x.shape[1:]))
    # The pipeline is timed through the engine's own VoteSampler, so the bench measures exactly what runs.
    sampler = VoteSampler(classifier, x, settings, num_classes, torch.Generator(device=device).manual_seed(0))
    noise, denoise, gen = sampler.noise, sampler.denoise, sampler.generator

    def batch(size: int) -> torch.Tensor:
        return x.expand(size, *x.shape[1:])

    def classify(t: torch.Tensor) -> torch.Tensor:
        return classifier(t).argmax(dim=1)

    def bare() -> None:
        for size in sizes:
            classify(batch(size))

    def reference() -> None:
        for size in sizes:
            baseline(batch(size)).argmax(dim=1)

    def pipeline() -> np.ndarray:
        return sampler.counts(n)

    for _ in range(warmup):
        bare()
        pipeline()
        reference()
    bare_rates, pipe_rates, base_rates = [], [], []
    for _ in range(repeats):  # interleaved so drifts in machine load hit all three alike
        bare_rates.append(n / timed(bare, device)[0])
        pipe_rates.append(n / timed(pipeline, device)[0])
        base_rates.append(n / timed(reference, device)[0])
    stages: dict[str, list[float]] = {"noise": [], "denoise": [], "classify": [], "vote": []}
    for _ in range(repeats):
        seconds, noisy = timed(lambda: noise(batch(sizes[0]), gen), device)
        stages["noise"].append(1000 * seconds)
        seconds, clean = timed(lambda: denoise(noisy), device)
        stages["denoise"].append(1000 * seconds)
        seconds, labels = timed(lambda: classify(clean), device)
        stages["classify"].append(1000 * seconds)
        stages["vote"].append(1000 * timed(lambda: torch.bincount(labels, minlength=num_classes), device)[0])
    name = getattr(getattr(model, "card", None), "name", type(module).__name__)
    bare_s, pipe_s, base_s = Spread.of(bare_rates), Spread.of(pipe_rates), Spread.of(base_rates)
    return BenchReport(
        model=name, device=describe_device(device, classifier.label), batch_size=bs, n=n, repeats=repeats,
        noise=settings.noise, denoiser=settings.denoiser, backend=classifier.label, bare_images_per_s=bare_s,
        pipeline_images_per_s=pipe_s, baseline_images_per_s=base_s, ratio=pipe_s.median / bare_s.median,
        speedup=pipe_s.median / base_s.median,
        stage_ms_per_batch={k2: Spread.of(v) for k2, v in stages.items()},
    )
