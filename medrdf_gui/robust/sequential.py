"""Adaptive sequential sampling: stop drawing copies once the verdict is statistically settled.

Validity rests on time-uniform confidence sequences (CS), which hold simultaneously at every sample size and
therefore at any data-dependent stopping time (Ville's inequality; Howard, Ramdas, McAuliffe, Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 2021). For each class c the
vote indicator is Bernoulli(p_c); its CS is the set of p for which the beta-binomial mixture martingale

    M_t(p) = B(a + S_t, b + t − S_t) / B(a, b) / (p^{S_t} (1 − p)^{t − S_t}),   Beta(a, b) = Beta(½, ½) mixing

stays below K/α₁ (Robbins' method of mixtures). With α₁ = α/2 split over the K classes, all K sequences hold at
all times with probability ≥ 1 − α/2. We stop early only when

* the label is settled: lower(p_A) > upper(p_c) for every c ≠ A (so A is the true top class), and
* the RM verdict is settled: K·(lower(p_A) − max_c upper(p_c)) ≥ threshold (accept), or
  K·(upper(p_A) − max_c lower(p_c)) < threshold (re-evaluate).

If the cap n_max is reached first, the fixed-n rule (the paper's binomial test) decides at level α/2. A wrong
label is therefore returned with probability ≤ α/2 + α/2 = α, the paper's guarantee, whatever the stopping time.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import betaln

_PRIOR_A = _PRIOR_B = 0.5


def _log_martingale(s: int, t: int, p: float) -> float:
    return (betaln(_PRIOR_A + s, _PRIOR_B + t - s) - betaln(_PRIOR_A, _PRIOR_B)
            - (s * math.log(p) + (t - s) * math.log1p(-p)))


def mixture_interval(s: int, t: int, alpha: float) -> tuple[float, float]:
    """The (1 − α) beta-binomial mixture confidence-sequence interval for p after s successes in t trials."""
    if t == 0:
        return 0.0, 1.0
    level = math.log(1.0 / alpha)
    p_hat = min(max(s / t, 1e-12), 1 - 1e-12)

    def excess(p: float) -> float:
        return _log_martingale(s, t, p) - level

    tiny = 1e-15
    lo = 0.0 if s == 0 or excess(tiny) < 0 else brentq(excess, tiny, p_hat, xtol=1e-12)
    hi = 1.0 if s == t or excess(1 - tiny) < 0 else brentq(excess, p_hat, 1 - tiny, xtol=1e-12)
    return lo, hi


@dataclass(frozen=True)
class SequentialCheck:
    settled: bool
    top: int
    verdict: str | None  # "accept" / "re-evaluate" once settled
    rm_interval: tuple[float, float]
    intervals: list[tuple[float, float]]


def check_settled(counts: np.ndarray, alpha_cs: float, threshold: float) -> SequentialCheck:
    """Is the verdict settled by the current counts? ``alpha_cs`` is the total error of all K sequences."""
    counts = np.asarray(counts, dtype=np.int64)
    k, t = counts.size, int(counts.sum())
    intervals = [mixture_interval(int(c), t, alpha_cs / k) for c in counts]
    top = int(np.argmax(counts))
    lower_a, upper_a = intervals[top]
    others = [intervals[c] for c in range(k) if c != top]
    max_upper_other = max(hi for _, hi in others)
    max_lower_other = max(lo for lo, _ in others)
    rm_low = k * (lower_a - max_upper_other)
    rm_high = k * (upper_a - max_lower_other)
    label_settled = lower_a > max_upper_other
    verdict = None
    if label_settled and rm_low >= threshold:
        verdict = "accept"
    elif label_settled and rm_high < threshold:
        verdict = "re-evaluate"
    return SequentialCheck(verdict is not None, top, verdict, (rm_low, rm_high), intervals)


@functools.lru_cache(maxsize=64)
def earliest_settle(k: int, alpha_cs: float, threshold: float, cap: int) -> int:
    """The size at which a unanimous vote first settles (≤ ``cap``; ``cap`` if none below it does): the engine's
    first check. A unanimous vote has the highest lower bound for its top class and the lowest upper bounds for
    the others, so no vote settles *accept* earlier; that none settles at all earlier is checked exhaustively
    for K = 3 (cxr3) in the tests. Stopping here rather than at the end of a full batch is equally valid (the
    sequences are time-uniform: any stopping time keeps the guarantee); it only spends fewer copies."""
    for t in range(1, cap + 1):
        if check_settled(np.array([t] + [0] * (k - 1)), alpha_cs, threshold).settled:
            return t
    return cap
