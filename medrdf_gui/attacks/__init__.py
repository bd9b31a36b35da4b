"""Adversarial attacks and the robustness evaluation (no Qt).

White-box L∞ attacks on the base model as in the paper (FGSM, I-FGSM, PGD, C&W-L∞), a black-box score attack
(Square), AutoAttack from the torchattacks library, and adaptive attacks on the defended pipeline itself (EOT over
the noise + BPDA through the median, and AutoAttack's rand version).
All take and return images in [0, 1] and a model whose forward takes [0, 1] pixels.
"""

from .adaptive import eot_pgd
from .autoattack import autoattack_components, autoattack_linf, autoattack_rand_linf
from .whitebox import cw_linf, fgsm, ifgsm, pgd
from .blackbox import square_linf
from .registry import ATTACKS, AttackSpec, parse_attacks

__all__ = ["ATTACKS", "AttackSpec", "autoattack_components", "autoattack_linf", "autoattack_rand_linf", "cw_linf",
           "eot_pgd", "fgsm", "ifgsm", "parse_attacks", "pgd", "square_linf"]
