"""robust_predict end to end: determinism, progress, cancel, OOM fallback, and abstain/accept rates of a
classifier with known p_A consistent with α."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binom, binomtest
from torch import nn

from medrdf_gui.robust import Cancelled, EngineError, RobustSettings, robust_predict
from synthetic import CLASSES, KnownPA, _image, _settings

def test_fixed_seed_gives_identical_counts(tiny_model, cxr_png) -> None:
    x = tiny_model.input_tensor(cxr_png)
    s = RobustSettings(n=300, batch_size=64, seed=123, device="cpu")
    r1, r2 = robust_predict(tiny_model, x, s), robust_predict(tiny_model, x, s)
    assert r1.counts == r2.counts and r1.seed == 123
    assert sum(r1.counts.values()) == 300
    r3 = robust_predict(tiny_model, x, s.with_(seed=124, noise="gaussian", sigma=0.5))
    assert r3.seed == 124


def test_result_numbers_are_consistent(tiny_model, cxr_png) -> None:
    x = tiny_model.input_tensor(cxr_png)
    r = robust_predict(tiny_model, x, n=200, seed=5, device="cpu")
    counts = np.array([r.counts[c] for c in r.classes])
    top2 = sorted(counts)[::-1][:2]
    assert (r.n_a, r.n_b) == tuple(top2)
    assert r.p_value == pytest.approx(binomtest(r.n_a, r.n_a + r.n_b, 0.5).pvalue)
    assert r.rm == pytest.approx(3 * (r.n_a - r.n_b) / 200)
    assert sum(r.base_probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert r.settings["n"] == 200 and r.settings["seed"] == 5 and r.model["sha256"] == tiny_model.sha256
    assert r.certified_radius is None  # salt-and-pepper: no gaussian certificate


def test_progress_reports_every_batch_up_to_total(tiny_model, cxr_png) -> None:
    calls: list[tuple[int, int]] = []
    robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=250, batch_size=100, seed=0, device="cpu",
                   progress=lambda d, t: calls.append((d, t)))
    assert calls == [(100, 250), (200, 250), (250, 250)]


def test_gaussian_progress_includes_selection_draw(tiny_model, cxr_png) -> None:
    calls: list[tuple[int, int]] = []
    r = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), noise="gaussian", sigma=0.25, n=100, n0=20,
                       batch_size=64, seed=0, device="cpu", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (120, 120) and calls[0] == (20, 120)
    assert sum(r.counts.values()) == 100


def test_cancel_mid_run_raises_and_stops(tiny_model, cxr_png) -> None:
    batches = []

    def should_cancel() -> bool:
        return len(batches) >= 2

    with pytest.raises(Cancelled):
        robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=10_000, batch_size=50, seed=0, device="cpu",
                       progress=lambda d, t: batches.append(d), should_cancel=should_cancel)
    assert batches == [50, 100]


def test_out_of_memory_halves_the_batch_and_goes_on() -> None:
    class Picky(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 16:
                raise torch.OutOfMemoryError("CUDA out of memory (injected)")
            return torch.zeros(x.shape[0], 3)

    r = robust_predict(Picky(), _image(), _settings(batch_size=64, n=100), classes=CLASSES)
    assert r.settings["batch_size"] == 16 and sum(r.counts.values()) == 100


def test_out_of_memory_at_batch_one_is_a_clear_error() -> None:
    class Hopeless(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise torch.OutOfMemoryError("out of memory (injected)")

    with pytest.raises(EngineError, match="(?i)out of memory"):
        robust_predict(Hopeless(), _image(), _settings(batch_size=4), classes=CLASSES)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(EngineError, match=r"\[0, 1\]"):
        robust_predict(KnownPA(0.9, 0.1), torch.full((1, 1, 8, 8), 2.0), _settings(), classes=CLASSES)
    with pytest.raises(EngineError, match="no CUDA|not available"):
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        robust_predict(KnownPA(0.9, 0.1), _image(), _settings(device="cuda"), classes=CLASSES)


def test_known_pa_votes_follow_the_binomial() -> None:
    """With p_A = 0.7 the count of class 0 is Binomial(n, 0.7): check it within a 5-sigma band."""
    n = 4000
    r = robust_predict(KnownPA(0.7, 0.1), _image(), _settings(n=n, batch_size=1000), classes=CLASSES)
    sd = (n * 0.7 * 0.3) ** 0.5
    assert abs(r.counts["a"] - 0.7 * n) <= 5 * sd
    assert r.counts["c"] == 0


def test_false_decision_rate_under_a_true_tie_is_at_most_alpha() -> None:
    """p_A = p_B = ½: any non-abstaining answer is a coin flip the test should have refused. Its rate must be
    ≤ α; with T trials the count is stochastically below Binomial(T, α), so it must not exceed that
    distribution's 1 − 10⁻⁶ quantile."""
    alpha, trials = 0.05, 400
    decided = 0
    for seed in range(trials):
        r = robust_predict(KnownPA(0.5, 0.1), _image(), _settings(n=100, alpha=alpha, seed=seed), classes=CLASSES)
        decided += not r.abstained
    assert decided <= binom.ppf(1 - 1e-6, trials, alpha)


def test_abstain_rate_matches_its_exact_probability() -> None:
    """p_A = 0.62, n = 100, α = 0.05: the exact abstain probability follows from summing the binomial test's
    outcome over n_A ~ Binomial(100, 0.62); the observed count over T trials must lie in its 1e-6 band."""
    p_a, n, alpha, trials = 0.62, 100, 0.05, 400
    pmf = binom.pmf(np.arange(n + 1), n, p_a)
    abstains = np.array([binomtest(max(k, n - k), n, 0.5).pvalue > alpha for k in range(n + 1)])
    p_abstain = float(pmf[abstains].sum())
    observed = sum(
        robust_predict(KnownPA(p_a, 0.1), _image(), _settings(n=n, alpha=alpha, seed=1000 + s), classes=CLASSES).abstained
        for s in range(trials)
    )
    lo, hi = binom.ppf(1e-6, trials, p_abstain), binom.ppf(1 - 1e-6, trials, p_abstain)
    assert lo <= observed <= hi, (observed, p_abstain * trials)
