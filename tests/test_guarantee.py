"""The statistical guarantee of the vote, checked at the level of ``decide()``: when the smoothed classifier has
no unique top class (p_A = p_B exactly) or its top class is B (p_A slightly below p_B), ``decide()`` returns the
label A — or any label at all, for a tie — with probability at most α.

Why the vote level: tests/test_engine.py::test_known_pa_votes_follow_the_binomial shows that the engine's counts
for a classifier with known vote probabilities are exactly binomial, and test_false_decision_rate_under_a_true_tie
checks 400 full engine runs at α = 0.05. Drawing the counts directly with numpy lets this file afford 20,000 trials
per case at α = 0.01 and at the paper's α = 0.001 in a second or two.

Bounds: the number X of wrong decisions in T independent trials is stochastically below Binomial(T, α) when the
per-trial probability is ≤ α, so X may not exceed that distribution's 1 − 10⁻⁶ quantile (a correct ``decide``
fails this test once in a million runs; seeds are fixed, so in practice never). The exact per-trial probability is
also computed by summing the binomial pmf over every possible count, which needs no tolerance at all.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from medrdf_gui.robust import decide, default_threshold

TRIALS = 20_000
N_COPIES = 100  # any n ≥ 11 carries the guarantee; 100 keeps the distinct count vectors few (fast)
THRESHOLD = default_threshold(3)


def _decisions(counts: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(label or -1 when abstained, accepted?) for each row of ``counts``, calling ``decide`` once per distinct row."""
    unique, inverse = np.unique(counts, axis=0, return_inverse=True)
    outcomes = [decide(row, alpha, THRESHOLD) for row in unique]
    labels = np.array([-1 if o.label is None else o.label for o in outcomes])
    accepted = np.array([o.verdict == "accept" for o in outcomes])
    return labels[inverse.ravel()], accepted[inverse.ravel()]


def _bound(alpha: float, trials: int = TRIALS) -> int:
    return int(binom.ppf(1 - 1e-6, trials, alpha))


@pytest.mark.parametrize("alpha", [0.01, 0.001])
def test_a_true_tie_is_almost_never_decided(alpha: float) -> None:
    """p = (0.45, 0.45, 0.10): A and B tie exactly. Every non-abstaining answer is wrong; so is every 'accept'."""
    rng = np.random.default_rng(12345)
    counts = rng.multinomial(N_COPIES, [0.45, 0.45, 0.10], size=TRIALS)
    labels, accepted = _decisions(counts, alpha)
    decided = int((labels >= 0).sum())
    assert decided <= _bound(alpha), (decided, alpha * TRIALS)
    assert int(accepted.sum()) <= decided


@pytest.mark.parametrize("alpha", [0.01, 0.001])
def test_the_runner_up_is_almost_never_returned(alpha: float) -> None:
    """p = (0.44, 0.46, 0.10): B is the smoothed classifier's class by a hair; returning A is the false decision
    the test bounds by α (it is in fact rarer: A must also win the vote)."""
    rng = np.random.default_rng(54321)
    counts = rng.multinomial(N_COPIES, [0.44, 0.46, 0.10], size=TRIALS)
    labels, accepted = _decisions(counts, alpha)
    wrong = int((labels == 0).sum())
    assert wrong <= _bound(alpha), (wrong, alpha * TRIALS)
    assert int((accepted & (labels == 0)).sum()) <= wrong


@pytest.mark.parametrize("alpha", [0.01, 0.001])
def test_the_bound_is_not_bought_by_always_abstaining(alpha: float) -> None:
    """Power: with p_A = 0.8 against 0.15 the vote names A in (nearly) every trial and never names another class."""
    rng = np.random.default_rng(777)
    counts = rng.multinomial(N_COPIES, [0.8, 0.15, 0.05], size=TRIALS)
    labels, _ = _decisions(counts, alpha)
    assert (labels == 0).mean() > 0.99 and not ((labels == 1) | (labels == 2)).any()


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.001])
@pytest.mark.parametrize("n", [11, 12, 50, 100, 400])
def test_exact_false_decision_probability_of_a_tie_is_at_most_alpha(alpha: float, n: int) -> None:
    """Two classes tied at ½: P(decide returns a label) = Σ_k Binom(k; n, ½)·[not abstained], computed exactly.
    n = 11 at α = 0.001 is the tightest case: only 11–0 passes, and 2·½¹¹ = 0.000977 ≤ 0.001."""
    k = np.arange(n + 1)
    decided = np.array([decide(np.array([i, n - i, 0]), alpha, THRESHOLD).label is not None for i in k])
    probability = float(binom.pmf(k, n, 0.5)[decided].sum())
    assert probability <= alpha
    if n == 11 and alpha == 0.001:
        assert probability == pytest.approx(2 * 0.5**11)
