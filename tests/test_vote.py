"""The vote, test, RM and bounds against hand-computed cases and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta, binomtest, norm

from medrdf_gui.robust import (
    RobustSettings, SettingsError, certified_radius, clopper_pearson_lower, decide, default_threshold,
    hoeffding_lower, minimum_n, robust_metric,
)


def test_decisive_vote_is_accepted() -> None:
    out = decide(np.array([9000, 500, 500]), alpha=0.001, threshold=1.0)
    assert (out.top, out.n_a, out.n_b, out.label) == (0, 9000, 500, 0)
    assert out.p_value == pytest.approx(binomtest(9000, 9500, 0.5).pvalue)
    assert out.rm == pytest.approx(3 * 8500 / 10000)  # 2.55
    assert not out.abstained and out.verdict == "accept"


def test_significant_but_close_vote_is_re_evaluated() -> None:
    out = decide(np.array([400, 600, 0]), alpha=0.001, threshold=1.0)
    assert out.top == 1 and out.p_value < 0.001 and not out.abstained
    assert out.rm == pytest.approx(0.6)
    assert out.verdict == "re-evaluate"


def test_tied_or_weak_vote_abstains() -> None:
    tie = decide(np.array([5, 5, 1]), alpha=0.001, threshold=1.0)
    assert tie.abstained and tie.label is None and tie.p_value == 1.0 and tie.verdict == "re-evaluate"
    weak = decide(np.array([60, 40, 0, 0, 0, 0, 0]), alpha=0.001, threshold=3.0)
    assert weak.abstained and weak.rm == pytest.approx(7 * 20 / 100)


def test_minimum_n_at_alpha_0001_is_11() -> None:
    assert minimum_n(0.001) == 11
    assert not decide(np.array([11, 0, 0]), 0.001, 1.0).abstained  # 2·½¹¹ = 0.000977 ≤ 0.001
    assert decide(np.array([10, 0, 0]), 0.001, 1.0).abstained  # 2·½¹⁰ = 0.00195
    with pytest.raises(SettingsError, match="below n = 11"):
        RobustSettings(n=10).validate()
    RobustSettings(n=11).validate()


def test_default_thresholds_match_the_paper() -> None:
    assert default_threshold(3) == 1.0 and default_threshold(7) == 3.0


def test_rm_range_and_formula() -> None:
    assert robust_metric(100, 0, 100, 3) == 3.0
    assert robust_metric(50, 50, 100, 7) == 0.0


def test_bounds_against_closed_forms() -> None:
    assert clopper_pearson_lower(90, 100, 0.001) == pytest.approx(beta.ppf(0.001, 90, 11))
    assert clopper_pearson_lower(100, 100, 0.05) == pytest.approx(0.05 ** (1 / 100))  # all successes: α^(1/n)
    assert clopper_pearson_lower(0, 100, 0.05) == 0.0
    assert hoeffding_lower(90, 100, 0.001) == pytest.approx(0.9 - math.sqrt(math.log(1000) / 200))
    assert hoeffding_lower(90, 100, 0.001) < clopper_pearson_lower(90, 100, 0.001)


def test_certified_radius_is_sigma_times_probit() -> None:
    r = certified_radius(0.25, 990, 1000, 0.001)
    assert r == pytest.approx(0.25 * norm.ppf(beta.ppf(0.001, 990, 11)))
    assert certified_radius(0.25, 500, 1000, 0.001) is None


@pytest.mark.parametrize(
    "change,message",
    [
        ({"noise": "speckle"}, "Unknown noise"),
        ({"denoiser": "bilateral"}, "Unknown denoiser"),
        ({"sigma": 1.5}, "σ"),
        ({"alpha": 0.0}, "α"),
        ({"kernel": 4}, "odd"),
        ({"batch_size": 0}, "batch"),
    ],
)
def test_invalid_settings_explain_themselves(change: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        RobustSettings().with_(**change).validate()
