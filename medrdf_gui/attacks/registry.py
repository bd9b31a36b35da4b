"""Attack names as the ``evaluate`` command and the tables use them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..robust.denoise import make_denoiser
from ..robust.noise import make_noise
from ..robust.settings import RobustSettings
from .adaptive import eot_pgd
from .autoattack import EOT_DRAWS, RAND, autoattack_components, autoattack_linf, autoattack_rand_linf
from .blackbox import rays_linf, spsa_linf, square_linf
from .detector_aware import alert_aware_pgd, eot_alert_aware_pgd, pgd_squeeze
from .whitebox import cw_linf, fgsm, ifgsm, pgd

AttackFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, float, torch.Generator, RobustSettings], torch.Tensor]


@dataclass(frozen=True)
class AttackSpec:
    name: str
    label: str  # column header
    fn: AttackFn
    adaptive: bool = False  # targets the defended pipeline (depends on the defence's noise/denoiser)
    components: Callable[[int], tuple[str, ...]] | None = None  # sub-attacks, when the number of classes decides them
    knows_detectors: bool = False  # gets the LoadedModel (card thresholds, scope statistics), not only the module

    def header(self, num_classes: int) -> str:
        """The column header for a model with ``num_classes`` classes: the label, then the sub-attacks that run
        against it when they depend on the class count (AutoAttack's targeted ones need four classes)."""
        if self.components is None:
            return self.label
        return f"{self.label} ({', '.join(self.components(num_classes))})"


def _eot(steps: int, draws: int, bpda: str = "identity") -> AttackFn:
    def run(model, x, y, eps, gen, s):
        return eot_pgd(model, x, y, eps, make_noise(s.noise, s.sigma), make_denoiser(s.denoiser, s.kernel),
                       steps=steps, draws=draws, generator=gen, bpda=bpda)

    return run


ATTACKS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in [
        AttackSpec("natural", "Natural", lambda m, x, y, e, g, s: x),
        AttackSpec("fgsm", "FGSM", lambda m, x, y, e, g, s: fgsm(m, x, y, e)),
        *[AttackSpec(f"ifgsm{k}", f"I-FGSM-{k}", (lambda k: lambda m, x, y, e, g, s: ifgsm(m, x, y, e, k))(k)) for k in (1, 2, 5, 7)],
        *[AttackSpec(f"pgd{k}", f"PGD-{k}", (lambda k: lambda m, x, y, e, g, s: pgd(m, x, y, e, k, g))(k)) for k in (7, 20, 100)],
        AttackSpec("cw", "C&W-L∞ (30)", lambda m, x, y, e, g, s: cw_linf(m, x, y, e, 30, g)),
        AttackSpec("pgd100-squeeze", "PGD-100 aware of feature squeezing",
                   lambda m, x, y, e, g, s: pgd_squeeze(m, x, y, e, 100, g)),
        AttackSpec("pgd100-aware", "PGD-100 aware of the alerts (scope, squeezing)",
                   lambda m, x, y, e, g, s: alert_aware_pgd(m, x, y, e, 100, g), knows_detectors=True),
        AttackSpec("square", "Square (1k queries)", lambda m, x, y, e, g, s: square_linf(m, x, y, e, 1000, generator=g)),
        AttackSpec("spsa", "SPSA (100 × 128)", lambda m, x, y, e, g, s: spsa_linf(m, x, y, e, generator=g)),
        AttackSpec("rays", "RayS (10k queries)", lambda m, x, y, e, g, s: rays_linf(m, x, y, e)),
        AttackSpec("autoattack", "AutoAttack", autoattack_linf, components=autoattack_components),
        AttackSpec("eot-pgd", "EOT-PGD-20×16 + BPDA (adaptive)", _eot(20, 16), adaptive=True),
        AttackSpec("eot-pgd-small", "EOT-PGD-10×8 + BPDA (adaptive)", _eot(10, 8), adaptive=True),
        AttackSpec("eot-pgd-smooth", "EOT-PGD-20×16 + smooth BPDA (adaptive)", _eot(20, 16, "smooth"), adaptive=True),
        AttackSpec("eot-pgd-strong", "EOT-PGD-100×32 + smooth BPDA (adaptive)", _eot(100, 32, "smooth"), adaptive=True),
        AttackSpec("eot-pgd-aware", "EOT-PGD-20×16 + smooth BPDA aware of the alerts (adaptive)",
                   lambda m, x, y, e, g, s: eot_alert_aware_pgd(m, x, y, e, make_noise(s.noise, s.sigma),
                                                                make_denoiser(s.denoiser, s.kernel), generator=g),
                   adaptive=True, knows_detectors=True),
        AttackSpec("autoattack-rand", f"AutoAttack-rand ({', '.join(RAND)}, EOT-{EOT_DRAWS}) + smooth BPDA (adaptive)",
                   autoattack_rand_linf, adaptive=True),
    ]
}


def parse_attacks(text: str) -> list[AttackSpec]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s): {', '.join(unknown)} (known: {', '.join(ATTACKS)})")
    if "natural" not in names:
        names.insert(0, "natural")
    return [ATTACKS[n] for n in names]
