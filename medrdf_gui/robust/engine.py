"""The MedRDF engine: n noisy, denoised copies of one image, classified in batches, voted and tested.

Runs under ``torch.inference_mode`` on the model's device, reports progress between batches, stops at the next
batch boundary when cancelled, and halves the batch size when the device runs out of memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
import secrets
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..alerts import BASE_DISAGREEMENT, SQUEEZE, UNVALIDATED_SETTING, Alert
from ..modelzoo.scope import ScopeAssessment, scope_probe
from .backends import Classifier, select_classifier
from .denoise import make_denoiser
from .device import describe_device, resolve_device
from .errors import Cancelled, EngineError
from .noise import make_noise
from .result import Result
from .sequential import check_settled, earliest_settle
from .settings import RobustSettings, default_threshold
from .squeeze import assess as squeeze_assess
from .validation import defence_caution, protection_notice
from .vote import VoteOutcome, certified_radius, decide

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
ClassifyFn = Callable[[torch.Tensor], torch.Tensor]  # pixels [B, C, H, W] → logits [B, K]


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


class VoteSampler:
    """Draws noisy-denoised copies of ``x`` and counts the votes of ``classifier`` (a :class:`Classifier` from
    robust/backends.py, or any callable from pixels to logits)."""

    def __init__(self, classifier: ClassifyFn, x: torch.Tensor, settings: RobustSettings, num_classes: int,
                 generator: torch.Generator, should_cancel: CancelFn | None = None) -> None:
        self.classifier = classifier
        self.x = x
        self.noise = make_noise(settings.noise, settings.sigma)
        self.denoise = make_denoiser(settings.denoiser, settings.kernel)
        self.batch_size = settings.batch_size
        self.num_classes = num_classes
        self.generator = generator
        self.should_cancel = should_cancel or (lambda: False)

    def classify_copies(self, count: int) -> torch.Tensor:
        """Predicted labels of ``count`` fresh copies (one batch), halving the batch on out-of-memory."""
        while True:
            try:
                batch = self.x.expand(count, *self.x.shape[1:])
                copies = self.denoise(self.noise(batch, self.generator))
                return self.classifier(copies).argmax(dim=1)
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not _is_oom(exc):
                    raise
                if self.x.is_cuda:
                    torch.cuda.empty_cache()
                if count == 1:
                    raise EngineError("Out of memory even with a batch of one image; try the CPU device.") from None
                count = max(1, count // 2)
                self.batch_size = count

    def counts(self, n: int, progress: ProgressFn | None = None, offset: int = 0, total: int | None = None,
               stop: Callable[[np.ndarray], bool] | None = None, first: int | None = None) -> np.ndarray:
        """Vote counts of up to ``n`` copies; ``stop(counts)`` after each batch may end the draw early. ``first``
        sizes the first batch (the earliest size at which ``stop`` can say yes); later batches are full."""
        counts = torch.zeros(self.num_classes, dtype=torch.int64, device=self.x.device)
        done = 0
        total = total or n
        while done < n:
            if self.should_cancel():
                raise Cancelled("Analysis cancelled.")
            want = min(first if done == 0 and first else self.batch_size, self.batch_size, n - done)
            labels = self.classify_copies(want)
            counts += torch.bincount(labels, minlength=self.num_classes)
            done += labels.numel()
            if progress is not None:
                progress(offset + done, total)
            if stop is not None and done < n and stop(counts.cpu().numpy()):
                break
        return counts.cpu().numpy()


def squeeze_alert(score: float | None, threshold: float | None) -> Alert | None:
    """The detector's alert when the clean image's squeezing statistic exceeds the card's threshold."""
    if score is None or threshold is None or score <= threshold:
        return None
    return Alert(SQUEEZE, (
        f"The model's answer moves when the image is slightly simplified (3×3 median, 16 grey levels) more than "
        f"on 95 % of validation images (score {score:.3g} > {threshold:.3g}), as it does on many deliberately "
        f"perturbed images. Review the image before relying on the diagnosis."))


def run_alerts(classes: list[str], outcome: VoteOutcome, base_label: int, caution: str | None,
               display_names: dict[str, str], scope: ScopeAssessment | None = None,
               squeeze: Alert | None = None) -> list[Alert]:
    """The alerts the run itself raises: the base model disagrees with a kept vote (a possible adversarial
    input: the defence changed the answer), the clean image is outside the model's scope (unlike its training
    images, so no class of the model fits it), and settings not validated for this model."""
    found: list[Alert] = []
    if scope is not None and scope.alert is not None:
        found.append(scope.alert)
    if not outcome.abstained and outcome.label != base_label:
        name = lambda c: display_names.get(c, c)  # noqa: E731
        found.append(Alert(BASE_DISAGREEMENT, (
            f"The base model says {name(classes[base_label])}, but the defended vote says "
            f"{name(classes[outcome.top])}. Possible adversarial input: review the image before relying on either.")))
    if squeeze is not None:
        found.append(squeeze)
    if caution:
        found.append(Alert(UNVALIDATED_SETTING, caution))
    return found


def robust_predict(model, x: torch.Tensor, settings: RobustSettings | None = None, *,
                   progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                   classes: list[str] | None = None, classifier: Classifier | None = None, **overrides) -> Result:
    """Run MedRDF on one image tensor ``x`` ([1, C, H, W] or [C, H, W], pixels in [0, 1]).

    ``model`` is a :class:`~medrdf_gui.modelzoo.LoadedModel` (or a bare ``nn.Module`` with ``classes`` given).
    Keyword overrides change single settings: ``robust_predict(model, x, n=1000, seed=0)``. The vote's copies are
    classified by ``classifier`` when given, else by the one ``settings.backend``/``precision`` select
    (robust/backends.py); the base model's own prediction on ``x`` is always torch fp32.
    """
    settings = (settings or RobustSettings()).with_(**overrides).validate()
    module: nn.Module = getattr(model, "module", model)
    card = getattr(model, "card", None)
    classes = list(classes or (card.classes if card is not None else []))
    if len(classes) < 2:
        raise EngineError("The model's class names are unknown; pass classes=[...].")
    k = len(classes)
    threshold = settings.threshold if settings.threshold is not None else default_threshold(k)
    device = resolve_device(settings.device)
    seed = settings.seed if settings.seed is not None else secrets.randbits(63)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise EngineError(f"Expected one image tensor [1, C, H, W], got shape {tuple(x.shape)}.")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise EngineError("Image pixels must be finite and lie in [0, 1].")

    started = time.perf_counter()
    timestamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    # channels_last: faster CPU convolutions; no test-set prediction changes (docs/performance.md)
    module = module.to(device).eval().to(memory_format=torch.channels_last)
    x = x.to(device=device, dtype=torch.float32)
    generator = torch.Generator(device=device).manual_seed(seed)
    try:
        with torch.inference_mode():
            with scope_probe(getattr(model, "scope", None), module) as probe:
                logits = module(x).float()
            probabilities = torch.softmax(logits, dim=1)[0].cpu().numpy()
            scope = probe.assess(logits)  # None when the model's card has no scope statistics
            squeeze_score, squeeze_threshold = squeeze_assess(card, module, x)  # None, None without a detector
            if classifier is None:
                classifier = select_classifier(model, device, settings.backend, settings.precision, tuple(x.shape[1:]))
            sampler = VoteSampler(classifier, x, settings, k, generator, should_cancel)
            total = settings.n + (settings.n0 if settings.noise == "gaussian" else 0)
            selection = None
            if settings.noise == "gaussian":
                selection = sampler.counts(settings.n0, progress, 0, total)
            stop = first = None
            if settings.sampling == "adaptive":
                # half of α for the confidence sequences, half for the fixed-n test at the cap
                stop = lambda c: check_settled(c, settings.alpha / 2, threshold).settled  # noqa: E731
                # no vote can settle before a unanimous one does: check there first, not a batch later
                first = earliest_settle(k, settings.alpha / 2, threshold, settings.batch_size)
            counts = sampler.counts(settings.n, progress, total - settings.n, total, stop, first)
    except (Cancelled, EngineError):
        raise
    except Exception as exc:
        if _is_oom(exc):
            raise EngineError("The device ran out of memory; lower the batch size or use the CPU.") from None
        raise EngineError(f"Inference failed on {device}: {type(exc).__name__}.") from exc

    n_used = int(counts.sum())
    rm_interval = None
    if settings.sampling == "adaptive":
        early = check_settled(counts, settings.alpha / 2, threshold)
        outcome = decide(counts, settings.alpha / 2, threshold)
        rm_interval = early.rm_interval
        if early.settled:  # the confidence sequences decided; the fixed-n test is not the stopping rule here
            outcome = replace(outcome, label=early.top, abstained=False, verdict=early.verdict)
    else:
        outcome = decide(counts, settings.alpha, threshold)
    radius = None
    if selection is not None:
        guess = int(np.argmax(selection))
        radius = certified_radius(settings.sigma, int(counts[guess]), n_used, settings.alpha)
    base_label = int(np.argmax(probabilities))
    used = settings.with_(seed=seed, threshold=threshold, batch_size=sampler.batch_size,
                          backend=classifier.backend, precision=classifier.precision)
    caution = defence_caution(card, settings)
    display_names = dict(card.display_names) if card else {}
    alerts = run_alerts(classes, outcome, base_label, caution, display_names, scope,
                        squeeze_alert(squeeze_score, squeeze_threshold))
    return Result(
        diagnosis=None if outcome.abstained else classes[outcome.top],
        label=outcome.label,
        abstained=outcome.abstained,
        classes=classes,
        counts={name: int(c) for name, c in zip(classes, counts)},
        n=settings.n,
        n_used=n_used,
        sampling=settings.sampling,
        rm_interval=rm_interval,
        n_a=outcome.n_a,
        n_b=outcome.n_b,
        top_class=classes[outcome.top],
        runner_up_class=classes[outcome.runner_up],
        p_value=outcome.p_value,
        rm=outcome.rm,
        rm_threshold=threshold,
        rm_verdict=outcome.verdict,
        pa_lower_bound=outcome.pa_lower_hoeffding,
        pa_lower_clopper_pearson=outcome.pa_lower_clopper_pearson,
        certified_radius=radius,
        base_diagnosis=classes[base_label],
        base_label=base_label,
        base_probabilities={name: float(p) for name, p in zip(classes, probabilities)},
        settings=used.to_dict(),
        model={"name": card.name if card else type(module).__name__, "sha256": card.sha256 if card else ""},
        device=describe_device(device, classifier.label),
        seed=seed,
        elapsed_s=round(time.perf_counter() - started, 3),
        display_names=display_names,
        warnings=[caution] if caution else [],
        caution=caution,
        alerts=alerts,
        protection=protection_notice(card, settings),
        out_of_scope=scope is not None and scope.out_of_scope,
        ood_score=scope.score if scope is not None else None,
        ood_threshold=scope.threshold if scope is not None else None,
        squeeze_score=squeeze_score,
        squeeze_threshold=squeeze_threshold,
        app_version=__version__,
        timestamp=timestamp,
    )
