"""AutoAttack, L∞ (Croce & Hein 2020), taken from the torchattacks library rather than written here.

Why a library: AutoAttack's worth is that it is the same parameter-free ensemble everyone reports, so a robustness
figure under it can be compared with other work; a re-implementation would be one more PGD variant with its own
slips. torchattacks (MIT) ports the reference components (APGD, APGD-T, FAB, Square) and MultiAttack, which runs
them in turn, each on the images still classified correctly, and keeps per image the first adversarial that fools
the model: an image counts as broken when any component breaks it, AutoAttack's per-image worst case.

What runs depends on the number of classes K (``autoattack_components``):

* K ≥ 4, the standard version: APGD-CE, APGD-T (targeted DLR loss, every other class as target), FAB-T, Square.
* K = 3 (cxr3): the targeted DLR loss divides by z_π1 − ½(z_π3 + z_π4), which needs a fourth class (the reference
  code warns that targeted DLR is impossible with 3 classes), so the untargeted components run: APGD-CE,
  APGD-DLR, FAB, Square.

Budgets are the reference implementation's (fra31/auto-attack): 100 iterations and one restart for APGD, APGD-T
and FAB, Square with 5,000 queries, p_init = 0.8 and the schedule not rescaled. torchattacks' own ``AutoAttack``
class leaves its components at the library default of 10 iterations and has no 3-class variant, which is why the
ensemble is put together here from the library's classes.

``autoattack_rand_linf`` is the reference's ``rand`` version for randomised defences: APGD-CE and APGD-DLR, each
gradient averaged over 20 noise draws (EOT), on one MedRDF row's pipeline (``DefendedPipeline``: the row's noise,
its denoiser with the smooth BPDA of ``eot-pgd-smooth``, then the model). Like the reference, it decides whether
an image is fooled from single noisy forward passes, not from MedRDF's vote; the vote on its output is what the
evaluation counts.

The library reseeds torch's global random generator from the seed it is given; that state is restored afterwards,
so running an attack changes no other random draw of the process.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import nn

from ..robust.denoise import make_denoiser
from ..robust.noise import make_noise
from ..robust.settings import RobustSettings
from .adaptive import DefendedPipeline
from .whitebox import project_linf

STEPS = 100  # APGD, APGD-T and FAB iterations, as in the reference
SQUARE_QUERIES = 5000
EOT_DRAWS = 20  # noise draws per gradient in the rand version, as in the reference
STANDARD = ("APGD-CE", "APGD-T", "FAB-T", "Square")
UNTARGETED = ("APGD-CE", "APGD-DLR", "FAB", "Square")
RAND = ("APGD-CE", "APGD-DLR")


def _library() -> ModuleType:
    """torchattacks, imported when an AutoAttack runs: the viewer never needs it. It is not a declared dependency
    because it pins requests~=2.25.1 (which it never imports); scripts/bootstrap.sh installs it with --no-deps."""
    try:
        import torchattacks
    except ImportError as exc:
        raise ImportError("AutoAttack needs the torchattacks package: run scripts/bootstrap.sh, which installs it "
                          "without its dependencies") from exc
    return torchattacks


def autoattack_components(num_classes: int, rand: bool = False) -> tuple[str, ...]:
    """The components AutoAttack runs, in order, against a K-class model (see the module docstring); ``rand``: those
    of the version for randomised defences."""
    if num_classes < 3:
        raise ValueError(f"AutoAttack's DLR loss needs at least 3 classes, not {num_classes}")
    if rand:
        return RAND
    return STANDARD if num_classes >= 4 else UNTARGETED


def build_autoattack(model: nn.Module, eps: float, components: tuple[str, ...], num_classes: int, seed: int,
                     eot_draws: int = 1) -> Any:
    """A torchattacks ``MultiAttack`` running ``components`` with the reference budgets; ``eot_draws`` > 1 averages
    each APGD gradient over that many forward passes (for a randomised model)."""
    ta = _library()
    common: dict[str, Any] = {"norm": "Linf", "eps": eps, "seed": seed}
    factories = {
        "APGD-CE": lambda: ta.APGD(model, loss="ce", steps=STEPS, n_restarts=1, eot_iter=eot_draws, **common),
        "APGD-DLR": lambda: ta.APGD(model, loss="dlr", steps=STEPS, n_restarts=1, eot_iter=eot_draws, **common),
        "APGD-T": lambda: ta.APGDT(model, steps=STEPS, n_restarts=1, n_classes=num_classes, **common),
        "FAB": lambda: ta.FAB(model, steps=STEPS, n_restarts=1, n_classes=num_classes, **common),
        "FAB-T": lambda: ta.FAB(model, steps=STEPS, n_restarts=1, multi_targeted=True, n_classes=num_classes,
                                **common),
        "Square": lambda: ta.Square(model, n_queries=SQUARE_QUERIES, n_restarts=1, p_init=0.8, resc_schedule=False,
                                    **common),
    }
    return ta.MultiAttack([factories[name]() for name in components])


def _num_classes(model: nn.Module, x: torch.Tensor) -> int:
    """K from one forward pass: an attack function gets the bare module, not the model card."""
    with torch.no_grad():
        return int(model(x[:1]).shape[-1])


def _seed(generator: torch.Generator) -> int:
    """The library takes an integer seed: drawn from the evaluation's generator, so a fixed generator gives a fixed
    attack."""
    return int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))


def _run(attack: Any, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Run a torchattacks attack with torch's global generators restored afterwards, and project its output onto
    the ε-ball and [0, 1] (the library keeps to both; the projection makes that a guarantee of ours)."""
    x = x.detach()
    cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []  # the device the library reseeds
    with torch.random.fork_rng(devices=cuda):
        x_adv = attack(x, y)
    return project_linf(x_adv.detach(), x, eps)


def autoattack_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, generator: torch.Generator,
                    settings: RobustSettings) -> torch.Tensor:
    """AutoAttack on the base model (a transferred attack: ``settings``, the defence, plays no part)."""
    num_classes = _num_classes(model, x)
    attack = build_autoattack(model, eps, autoattack_components(num_classes), num_classes, _seed(generator))
    return _run(attack, x, y, eps)


def autoattack_rand_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, generator: torch.Generator,
                         settings: RobustSettings) -> torch.Tensor:
    """AutoAttack's rand version (APGD-CE, APGD-DLR with EOT) on the MedRDF row that ``settings`` describes."""
    num_classes = _num_classes(model, x)
    components = autoattack_components(num_classes, rand=True)
    seed = _seed(generator)  # drawn before the pipeline's noise, which continues from the same generator
    defended = DefendedPipeline(model, make_noise(settings.noise, settings.sigma),
                                make_denoiser(settings.denoiser, settings.kernel), generator, bpda="smooth")
    attack = build_autoattack(defended, eps, components, num_classes, seed, eot_draws=EOT_DRAWS)
    return _run(attack, x, y, eps)
