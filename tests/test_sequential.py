"""Adaptive sampling: the confidence sequences are time-uniform (Ville), and the stopping rule keeps the paper's
α guarantee while stopping early on clear cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom
from scipy.special import betaln

from medrdf_gui.robust import robust_predict
from medrdf_gui.robust.sequential import _log_martingale, check_settled, mixture_interval

from synthetic import CLASSES, KnownPA, _image, _settings


@pytest.mark.parametrize("s,t", [(0, 10), (7, 10), (50, 100), (999, 1000), (1000, 1000)])
def test_interval_endpoints_are_where_the_martingale_crosses(s: int, t: int) -> None:
    alpha = 0.01
    lo, hi = mixture_interval(s, t, alpha)
    assert lo <= s / t <= hi
    level = math.log(1 / alpha)
    if lo > 0:
        assert _log_martingale(s, t, lo) == pytest.approx(level, abs=1e-6)
    if hi < 1:
        assert _log_martingale(s, t, hi) == pytest.approx(level, abs=1e-6)


@pytest.mark.parametrize("p", [0.5, 0.1, 0.97])
def test_confidence_sequence_covers_at_all_times(p: float) -> None:
    """Fraction of 4,000 Bernoulli(p) paths of length 2,000 on which M_t(p) ever reaches 1/α: Ville's inequality
    bounds it by α; the observed count must lie below Binomial(4000, α)'s 1 − 10⁻⁶ quantile."""
    alpha, runs, steps = 0.05, 4000, 2000
    rng = np.random.default_rng(0)
    s = np.cumsum(rng.random((runs, steps)) < p, axis=1)
    t = np.arange(1, steps + 1)
    log_m = betaln(0.5 + s, 0.5 + t - s) - betaln(0.5, 0.5) - (s * np.log(p) + (t - s) * np.log1p(-p))
    crossed = int((log_m.max(axis=1) >= math.log(1 / alpha)).sum())
    assert crossed <= binom.ppf(1 - 1e-6, runs, alpha)


def test_clear_votes_settle_early_and_ties_do_not() -> None:
    assert check_settled(np.array([100, 0, 0]), 0.0005, 1.0).verdict == "accept"
    assert not check_settled(np.array([50, 50, 0]), 0.0005, 1.0).settled
    near = check_settled(np.array([3300, 3350, 3350]), 0.0005, 1.0)
    assert not near.settled


def test_adaptive_run_stops_early_on_a_confident_classifier() -> None:
    r = robust_predict(KnownPA(0.999, 0.1), _image(), _settings(n=10_000, batch_size=50, sampling="adaptive"), classes=CLASSES)
    assert r.n == 10_000 and r.n_used <= 200 and sum(r.counts.values()) == r.n_used
    assert r.verdict == "accept" and r.diagnosis == "a"
    lo, hi = r.rm_interval
    assert lo <= r.rm <= hi and lo >= 1.0
    assert "settled after" in r.reason()


def test_adaptive_run_uses_the_cap_when_the_vote_is_close() -> None:
    r = robust_predict(KnownPA(0.5, 0.1), _image(), _settings(n=300, batch_size=100, sampling="adaptive"), classes=CLASSES)
    assert r.n_used == 300


def test_adaptive_false_decisions_under_a_tie_stay_within_alpha() -> None:
    """True tie p_A = p_B = ½: every returned label is an error. The rule spends α/2 on the confidence
    sequences and α/2 on the test at the cap, so errors ≤ α; checked against Binomial(T, α)'s 1e-6 quantile."""
    alpha, trials = 0.1, 200
    errors = sum(
        not robust_predict(KnownPA(0.5, 0.1), _image(),
                           _settings(n=200, batch_size=25, alpha=alpha, seed=s, sampling="adaptive"), classes=CLASSES).abstained
        for s in range(trials)
    )
    assert errors <= binom.ppf(1 - 1e-6, trials, alpha)


def test_fixed_mode_reports_n_used_equal_to_n(tiny_model, cxr_png) -> None:
    r = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=100, seed=0, device="cpu")
    assert r.n_used == r.n == 100 and r.rm_interval is None and r.sampling == "fixed"


def test_adaptive_copies_are_a_prefix_of_the_fixed_draw() -> None:
    """With the same seed and batch size both modes draw the same copies in the same order, so an adaptive run
    that reaches the cap has exactly the fixed run's counts, and one that stops early has the counts of a fixed
    run of that length (scripts/compare_sampling.py relies on both)."""
    capped = robust_predict(KnownPA(0.6, 0.1), _image(), _settings(n=400, batch_size=40, seed=3, sampling="adaptive"),
                            classes=CLASSES)
    fixed = robust_predict(KnownPA(0.6, 0.1), _image(), _settings(n=400, batch_size=40, seed=3), classes=CLASSES)
    assert capped.n_used == 400 and capped.counts == fixed.counts
    stopped = robust_predict(KnownPA(0.99, 0.1), _image(), _settings(n=1000, batch_size=50, sampling="adaptive"),
                             classes=CLASSES)
    prefix = robust_predict(KnownPA(0.99, 0.1), _image(), _settings(n=stopped.n_used, batch_size=50),
                            classes=CLASSES)
    assert stopped.n_used < 1000 and stopped.counts == prefix.counts
    assert 0 < stopped.counts["b"] < stopped.n_used, "a unanimous draw would not show the order matters"


@pytest.mark.parametrize("k", [3])
def test_no_vote_settles_before_a_unanimous_one_would(k: int) -> None:
    from itertools import combinations_with_replacement

    from medrdf_gui.robust import default_threshold
    from medrdf_gui.robust.sequential import earliest_settle

    threshold = default_threshold(k)
    first = earliest_settle(k, 0.0005, threshold, 10_000)
    assert check_settled(np.array([first] + [0] * (k - 1)), 0.0005, threshold).verdict == "accept"
    assert 10 < first < 100  # a few dozen copies, not a batch
    for t in range(1, first):
        for votes in combinations_with_replacement(range(k), t):  # every count vector of t copies, up to order
            counts = np.bincount(np.array(votes), minlength=k)
            assert not check_settled(counts, 0.0005, threshold).settled, counts


def test_the_engine_checks_first_where_a_unanimous_vote_settles() -> None:
    import torch
    from torch import nn

    from medrdf_gui.robust import robust_predict
    from medrdf_gui.robust.sequential import earliest_settle

    class Constant(nn.Module):  # votes class 0 on every copy
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[5.0, 0.0, 0.0]]).expand(x.shape[0], 3)

    r = robust_predict(Constant(), torch.rand(1, 1, 8, 8), classes=["a", "b", "c"], n=10_000, batch_size=64,
                       sampling="adaptive", seed=0, device="cpu", backend="torch")
    assert r.verdict == "accept" and r.n_used == earliest_settle(3, 0.0005, 1.0, 64) < 64
