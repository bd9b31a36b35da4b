"""From class counts to a verdict: majority vote, two-sided binomial test, Robust Metric and confidence bounds.

Pure functions of the counts, so every number in a Result can be recomputed by hand (and is, in the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, binomtest, norm


@dataclass(frozen=True)
class VoteOutcome:
    label: int | None  # None when abstained
    top: int  # index of the most voted class (even when abstained)
    runner_up: int
    n_a: int
    n_b: int
    p_value: float
    abstained: bool
    rm: float
    threshold: float
    verdict: str  # "accept" | "re-evaluate"
    pa_lower_hoeffding: float
    pa_lower_clopper_pearson: float


def clopper_pearson_lower(successes: int, trials: int, alpha: float) -> float:
    """One-sided (1 − α) Clopper–Pearson lower confidence bound on a binomial proportion."""
    if successes <= 0:
        return 0.0
    return float(beta.ppf(alpha, successes, trials - successes + 1))


def hoeffding_lower(successes: int, trials: int, alpha: float) -> float:
    """One-sided (1 − α) Hoeffding lower bound, p̂ − sqrt(ln(1/α) / 2n): the distribution-free form of the
    paper's lower bound on p_A (its eq. 10). Looser than Clopper–Pearson, reported beside it."""
    return max(0.0, successes / trials - math.sqrt(math.log(1.0 / alpha) / (2.0 * trials)))


def robust_metric(n_a: int, n_b: int, n: int, num_classes: int) -> float:
    """RM = K · (n_A − n_B) / n with n the copies drawn; in [0, K] since n_A ≥ n_B."""
    return num_classes * (n_a - n_b) / n


def decide(counts: np.ndarray, alpha: float, threshold: float) -> VoteOutcome:
    """Majority vote with abstention.

    The top class A and runner-up B are the two largest counts (ties broken by lower class index). The vote is
    kept only if a two-sided binomial test of n_A successes in n_A + n_B trials at p = ½ rejects at level α —
    the test of Cohen et al.'s PREDICT, which bounds the probability of returning a class other than the
    smoothed classifier's by α. Accept when kept and RM ≥ threshold, else re-evaluate.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    order = np.argsort(-counts, kind="stable")
    top, runner_up = int(order[0]), int(order[1])
    n_a, n_b = int(counts[top]), int(counts[runner_up])
    p_value = float(binomtest(n_a, n_a + n_b, 0.5).pvalue) if n_a + n_b > 0 else 1.0
    abstained = p_value > alpha
    rm = robust_metric(n_a, n_b, n, counts.size)
    verdict = "accept" if (not abstained and rm >= threshold) else "re-evaluate"
    return VoteOutcome(
        label=None if abstained else top,
        top=top,
        runner_up=runner_up,
        n_a=n_a,
        n_b=n_b,
        p_value=p_value,
        abstained=abstained,
        rm=rm,
        threshold=threshold,
        verdict=verdict,
        pa_lower_hoeffding=hoeffding_lower(n_a, n, alpha),
        pa_lower_clopper_pearson=clopper_pearson_lower(n_a, n, alpha),
    )


def certified_radius(sigma: float, count_a: int, n: int, alpha: float) -> float | None:
    """Cohen et al. (2019) CERTIFY: L2 radius σ·Φ⁻¹(p_A lower) for gaussian noise, None when p_A lower ≤ ½."""
    pa_lower = clopper_pearson_lower(count_a, n, alpha)
    if pa_lower <= 0.5:
        return None
    return float(sigma * norm.ppf(pa_lower))
