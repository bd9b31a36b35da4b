"""Scope: is this image like the ones the model was trained on? Asked before anyone reads its diagnosis.

A classifier must name one of its classes for any input: a skin photograph, a CT slice or an inverted film gets
a chest diagnosis as confidently as a chest film does. The scope detector scores the clean image's distance from
the training data and flags it when the score exceeds a threshold calibrated on the validation split, so that
at most ``TARGET_FLAG_RATE`` of in-distribution images are flagged. Two scores are implemented; the card says
which one was chosen by measurement (docs/scope.md, which also measures the variants that lost):

* ``mahalanobis``: the Mahalanobis feature ensemble of Lee et al. (NeurIPS 2018). At every residual stage the
  channel means of the feature map (global average pooling; the last stage's is the penultimate feature vector)
  are compared with each training class's mean under one covariance per stage shared by the classes, shrunk
  towards a multiple of the identity (Ledoit & Wolf 2004) so that it is invertible. Each squared distance is
  divided by its median over that class's own training images, the stages are summed with equal weight, and
  the score is the minimum over classes. Early stages see image statistics (a skin photograph, an inverted or
  a flat film), the last one the content; the per-class scale keeps a rare class whose training images are
  spread widely (derma7's vascular lesions) from being called out of scope by the spread of the common ones.
* ``energy`` (Liu et al., NeurIPS 2020): the free energy −logsumexp(logits) at temperature 1.

Higher is further from the training data for both. Only statistics are kept, never images: per stage the class
means, the whitening matrix and the class scales go into ``<model>.scope.safetensors`` beside the card, whose
sha256 the card records and :func:`read_stats` checks on the very bytes it then parses, as the registry does for
the weights.
"""

from __future__ import annotations

import hashlib
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from ..alerts import OUT_OF_SCOPE, Alert
from .card import ModelCard
from .errors import ModelLoadError
from .verified import read_verified_bytes

METHODS = ("mahalanobis", "energy")
TARGET_FLAG_RATE = 0.05  # the largest share of in-distribution images the detector may flag


def classes_sentence(names: list[str]) -> str:
    """'This model distinguishes COVID-19, normal and viral pneumonia only.' from display names in card order.

    A reader must know what a model can tell apart at all: a diagnosis of 'Normal' from a three-class model only
    rules out the other two classes. Names are lower-cased at the start unless they begin with an acronym.
    """
    def running(name: str) -> str:
        return name[:1].lower() + name[1:] if name[1:2].islower() else name

    words = [running(n) for n in names]
    listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return f"This model distinguishes {listed} only."


def stage_layers(module: nn.Module) -> list[str]:
    """The residual stages whose pooled outputs feed the Mahalanobis score: ``net.layer1`` … ``net.layer4`` in a
    torchvision ResNet (``net.layer4`` in TinyCNN). Raises ModelLoadError when the network has none, so that
    another architecture names its stages explicitly instead of being scored on the wrong features."""
    net = getattr(module, "net", module)
    prefix = "net." if net is not module else ""
    names = [f"{prefix}{name}" for name, _ in net.named_children() if re.fullmatch(r"layer\d+", name)]
    if not names:
        raise ModelLoadError("The network has no stages named layer1, layer2, …; name the scope layers explicitly.")
    return names


@contextmanager
def captured_features(module: nn.Module, layers: list[str],
                      detach: bool = True) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Collect each layer's output, pooled to [B, C] (channel means of a feature map), for every forward pass
    inside the block. The hooks live only for the block, so a module shared with the engine or Grad-CAM is left
    as it was found."""
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in layers}

    def pooled(out: torch.Tensor) -> torch.Tensor:
        out = (out.detach() if detach else out).float()  # an attacker who knows the detector differentiates it
        return out.mean(dim=(2, 3)) if out.dim() == 4 else out.flatten(1)

    handles = []
    try:
        for name in layers:
            try:
                target = module.get_submodule(name)
            except AttributeError:
                raise ModelLoadError(f"The model has no layer '{name}' for its scope features; "
                                     "check the card's scope.") from None
            handles.append(target.register_forward_hook(lambda _m, _i, out, name=name: seen[name].append(pooled(out))))
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def energy_scores(logits: torch.Tensor) -> torch.Tensor:
    """Free energy −logsumexp(logits) per row (Liu et al. 2020, T = 1): low on training-like images."""
    return -torch.logsumexp(logits.double(), dim=1).cpu()


@dataclass(frozen=True)
class GaussianStats:
    """One stage's statistics: class means, a whitening W with WᵀW = Σ⁻¹ for the shared covariance Σ, and each
    class's scale (the median squared distance of its own training images to its mean).

    W is the inverse of Σ's lower Cholesky factor, i.e. the transposed Cholesky factor of the precision
    matrix: ‖W(f − μ)‖² is the squared Mahalanobis distance without ever forming Σ⁻¹.
    """

    means: torch.Tensor  # [K, D] float64
    whitening: torch.Tensor  # [D, D] float64, lower triangular
    class_scale: torch.Tensor  # [K] float64
    shrinkage: float  # Ledoit–Wolf weight of the identity target, in [0, 1]

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distances [N, K] of features [N, D] to every class mean."""
        white = features.double().cpu() @ self.whitening.T
        return torch.cdist(white, self.means @ self.whitening.T).square()

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.means": self.means.float().contiguous(),
                f"{prefix}.whitening": self.whitening.float().contiguous(),
                f"{prefix}.class_scale": self.class_scale.contiguous(),
                f"{prefix}.shrinkage": torch.tensor([self.shrinkage], dtype=torch.float64)}


def ledoit_wolf(centred: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Shrunk covariance (1 − λ)S + λ·(tr S / D)·I of centred rows [N, D] with the Ledoit–Wolf (2004) λ.

    With 512 features and a few hundred images per class the sample covariance S is near singular, and its
    smallest eigenvalues are noise that a Mahalanobis distance would amplify most. λ is the estimate that
    minimises the expected Frobenius error, computed from the data alone, so nothing is tuned on the
    out-of-distribution sets it is later measured on.
    """
    x = centred.double()
    n, d = x.shape
    sample = x.T @ x / n
    mu = torch.trace(sample) / d
    target = mu * torch.eye(d, dtype=x.dtype)
    delta = torch.sum((sample - target) ** 2) / d
    # Σ_k ‖x_k x_kᵀ − S‖²_F = Σ_k ‖x_k‖⁴ − n‖S‖²_F, since Σ_k x_kᵀ S x_k = n·tr(S²)
    beta = (torch.sum(x.square().sum(dim=1) ** 2) - n * torch.sum(sample ** 2)) / (n * n * d)
    shrinkage = 1.0 if float(delta) == 0 else float(min(beta, delta) / delta)
    return (1 - shrinkage) * sample + shrinkage * target, shrinkage


def fit_gaussian(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> GaussianStats:
    """One stage's class means, shrunk covariance shared by all classes (pooled within-class, as in Lee et al.)
    and class scales, from training features [N, D] and their labels."""
    f = features.double().cpu()
    labels = labels.cpu()
    missing = [k for k in range(num_classes) if not bool((labels == k).any())]
    if missing:
        raise ValueError(f"no training features for class index(es) {missing}")
    means = torch.stack([f[labels == k].mean(dim=0) for k in range(num_classes)])
    covariance, shrinkage = ledoit_wolf(f - means[labels])
    factor = torch.linalg.cholesky(covariance)
    whitening = torch.linalg.solve_triangular(factor, torch.eye(f.shape[1], dtype=f.dtype), upper=False)
    # stored as float32: round now, so that the class scales and the calibrated threshold are computed with the
    # very statistics a loaded detector uses
    means, whitening = means.float().double(), whitening.float().double()
    partial = GaussianStats(means, whitening, torch.ones(num_classes, dtype=f.dtype), shrinkage)
    own = partial.distances(f).gather(1, labels.view(-1, 1)).squeeze(1)
    scale = torch.stack([own[labels == k].median() for k in range(num_classes)]).clamp(min=torch.finfo(f.dtype).tiny)
    return GaussianStats(means, whitening, scale, shrinkage)


@dataclass(frozen=True)
class StageStats:
    """The ``mahalanobis`` score's statistics: one :class:`GaussianStats` per stage, in card order."""

    stages: dict[str, GaussianStats]

    def scores(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """min over classes of Σ_stages (squared distance / class scale), per image: about one per stage on a
        training-like image of some class, large when any stage finds it unlike every class."""
        total = sum(stats.distances(features[name]) / stats.class_scale for name, stats in self.stages.items())
        assert isinstance(total, torch.Tensor)
        return total.amin(dim=1)

    def tensors(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, stats in self.stages.items():
            out.update(stats.tensors(name))
        return out


def fit_stages(features: dict[str, torch.Tensor], labels: torch.Tensor, num_classes: int) -> StageStats:
    return StageStats({name: fit_gaussian(f, labels, num_classes) for name, f in features.items()})


def calibrate_threshold(scores: torch.Tensor, rate: float = TARGET_FLAG_RATE) -> float:
    """The threshold (flag when score > threshold) from in-distribution calibration scores.

    It is the (n − k)-th smallest score with k = ⌊rate·(n + 1)⌋ − 1, so at most k of the n calibration images
    are flagged, and by the conformal argument the expected flag rate on a new image from the same distribution
    is at most (k + 1)/(n + 1) ≤ rate. Needs n ≥ 1/rate − 1 images.
    """
    values = torch.sort(scores.double().flatten().cpu()).values
    n = values.numel()
    k = math.floor(rate * (n + 1)) - 1
    if k < 0:
        raise ValueError(f"{n} calibration images cannot give a flag rate ≤ {rate:g}; "
                         f"need at least {math.ceil(1 / rate) - 1}")
    return float(values[n - 1 - k])


def auroc(inside: torch.Tensor, outside: torch.Tensor) -> float:
    """Probability that an out-of-distribution image scores higher than an in-distribution one (ties count
    half): the area under the ROC curve of the score as a detector, by the Mann–Whitney statistic."""
    a, b = inside.double().flatten().cpu(), outside.double().flatten().cpu()
    both = torch.cat([a, b])
    order = torch.argsort(both, stable=True)
    ranks = torch.empty_like(both)
    ranks[order] = torch.arange(1, both.numel() + 1, dtype=both.dtype)
    for value in torch.unique(both):  # mid-ranks for ties
        tied = both == value
        ranks[tied] = ranks[tied].mean()
    u = ranks[a.numel():].sum() - b.numel() * (b.numel() + 1) / 2
    return float(u / (a.numel() * b.numel()))


def stats_path(card: ModelCard) -> Path:
    base = card.path.parent if card.path is not None else Path.cwd()
    return base / str(card.scope["stats"])


def write_stats(stats: StageStats, path: Path) -> str:
    """Write the statistics (atomically: a temporary file, then a rename) and return the bytes' sha256."""
    blob = save_safetensors_bytes(stats.tensors(), metadata={"kind": "medrdf scope statistics"})
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(blob)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return hashlib.sha256(blob).hexdigest()


def read_stats(card: ModelCard) -> StageStats:
    """The card's scope statistics, refused unless their bytes match the sha256 the card records."""
    path = stats_path(card)
    blob = read_verified_bytes(path, str(card.scope.get("stats_sha256", "")), "Scope statistics", plural=True,
                               missing_hint=f"; rerun `medrdf scope fit {card.name}`")
    stages = {}
    try:
        tensors = load_safetensors_bytes(blob)
        for name in card.scope["layers"]:
            stats = GaussianStats(tensors[f"{name}.means"].double(), tensors[f"{name}.whitening"].double(),
                                  tensors[f"{name}.class_scale"].double(), float(tensors[f"{name}.shrinkage"][0]))
            d = stats.means.shape[-1]
            if stats.means.shape != (card.num_classes, d) or stats.whitening.shape != (d, d) \
                    or stats.class_scale.shape != (card.num_classes,):
                raise ModelLoadError(f"Scope statistics {path} do not fit the card's {card.num_classes} classes.")
            stages[name] = stats
    except (SafetensorError, ValueError, KeyError, IndexError) as exc:
        raise ModelLoadError(f"Scope statistics {path} are not a valid statistics file for the card's layers.") from exc
    return StageStats(stages)


class ScopeDetector:
    """A model's scope score and threshold, from its card (and, for ``mahalanobis``, its verified statistics)."""

    def __init__(self, card: ModelCard, stats: StageStats | None) -> None:
        scope = card.scope
        self.method = str(scope["method"])
        self.layers = [str(name) for name in scope.get("layers", [])]
        self.threshold = float(scope["threshold"])
        self.domain = str(scope.get("domain") or "images")
        self.stats = stats

    @classmethod
    def from_card(cls, card: ModelCard) -> "ScopeDetector | None":
        """None when the card has no scope; ModelLoadError when its scope is damaged, stale or unverifiable."""
        scope = card.scope
        if not scope:
            return None
        if "threshold" not in scope or scope.get("method") not in METHODS or \
                (scope["method"] == "mahalanobis" and not scope.get("layers")):
            raise ModelLoadError(f"Model card {card.path}: its scope entry is incomplete or names an unknown method.")
        if str(scope.get("weights_sha256", "")).lower() != card.sha256.lower():
            raise ModelLoadError(f"Model card {card.path}: its scope statistics were fitted for other weights; "
                                 f"rerun `medrdf scope fit {card.name}`.")
        return cls(card, read_stats(card) if scope["method"] == "mahalanobis" else None)

    def scores(self, features: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        """Scope scores [N] from pooled stage features ({layer: [N, D]}) and logits [N, K] (higher: further out)."""
        if self.stats is None:
            return energy_scores(logits)
        return self.stats.scores(features)

    def alert(self, score: float) -> Alert | None:
        """The reader's sentence when ``score`` exceeds the threshold; a NaN score (broken features) is out of
        scope too, never silently in."""
        if score <= self.threshold:
            return None
        return Alert(OUT_OF_SCOPE, (
            f"This image does not resemble the {self.domain} the model was trained on (scope score {score:.4g} > "
            f"threshold {self.threshold:.4g}): it may be another modality, body part or view, an inverted or "
            f"corrupted image, or a deliberately perturbed one. Do not rely on its diagnosis for this image."))


@dataclass(frozen=True)
class ScopeAssessment:
    """The scope verdict on one clean image: its score, the card's threshold, and the alert when it is out."""

    score: float
    threshold: float
    alert: Alert | None

    @property
    def out_of_scope(self) -> bool:
        return self.alert is not None


class ScopeProbe:
    """Watches the model's forward pass on the clean image and assesses it from the logits that pass returned."""

    def __init__(self, detector: ScopeDetector | None, seen: dict[str, list[torch.Tensor]]) -> None:
        self.detector = detector
        self.seen = seen

    def assess(self, logits: torch.Tensor) -> ScopeAssessment | None:
        """None when the model has no scope statistics (its card was never fitted)."""
        if self.detector is None:
            return None
        missing = [name for name, outputs in self.seen.items() if not outputs]
        if missing:
            raise ModelLoadError(f"The scope layer(s) {', '.join(missing)} are not used by the model's forward pass.")
        score = float(self.detector.scores({name: out[-1][:1] for name, out in self.seen.items()}, logits[:1])[0])
        return ScopeAssessment(score, self.detector.threshold, self.detector.alert(score))


@contextmanager
def scope_probe(detector: ScopeDetector | None, module: nn.Module) -> Iterator[ScopeProbe]:
    """``with scope_probe(model.scope, module) as probe: logits = module(x)``, then ``probe.assess(logits)``:
    the score comes from the forward pass the caller runs anyway, at the cost of a few hooks."""
    with captured_features(module, detector.layers if detector is not None else []) as seen:
        yield ScopeProbe(detector, seen)


def describe(scope: dict[str, Any]) -> str:
    """One line on a card's scope entry, for `medrdf models` and `medrdf scope fit`."""
    if not scope:
        return "scope: not fitted (no out-of-scope check)"
    where = f" on {', '.join(scope['layers'])}" if scope.get("layers") else ""
    return (f"scope: {scope['method']}{where}, threshold {float(scope['threshold']):.4g}, flags "
            f"{100 * float(scope.get('val_flag_rate', float('nan'))):.1f} % of {scope.get('val_images', '?')} "
            "validation images")
