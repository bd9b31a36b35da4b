"""AutoAttack from torchattacks on small models trained in-test: which components run for 3 and for 7 classes, the
ε-ball and [0, 1] kept, reproducible from the evaluation's generator, per-image worst case, at least as strong as
our PGD-100, the rand version on a MedRDF row, and ``medrdf evaluate --attacks autoattack`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from medrdf_gui.attacks import ATTACKS, autoattack_components, autoattack_linf, autoattack_rand_linf, parse_attacks, pgd
from medrdf_gui.attacks import autoattack as autoattack_module
from medrdf_gui.attacks.adaptive import DefendedPipeline, mean_filter
from medrdf_gui.modelzoo.architectures import NormalizedClassifier
from medrdf_gui.robust import MedianFilter, RobustSettings, SaltPepperNoise
from synthetic import accuracy, check_budget

# ε at which PGD-100 leaves part of each toy model standing, so "not weaker than PGD-100" is not 0 ≤ 0
EPS = {3: 0.03, 7: 0.02}
ROW = RobustSettings(noise="salt-pepper", sigma=0.1, denoiser="median", kernel=3)


def _data(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """16×16 grey images of uniform noise in [0.3, 0.7]; class k has its k-th 4×4 block 0.15 brighter."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.rand(n, 1, 16, 16, generator=g) * 0.4 + 0.3
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 4)
        x[i, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 0.15
    return x.clamp(0, 1), y


def _train(classes: int) -> NormalizedClassifier:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(256, 32), nn.ReLU(), nn.Linear(32, classes))
    model = NormalizedClassifier(net, [0.5], [0.25])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _data(1024, classes, 0)
    for step in range(100):
        idx = torch.randint(0, 1024, (32,), generator=torch.Generator().manual_seed(step))
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt = _data(256, classes, 1)
    assert accuracy(model, xt, yt) > 0.95, "the synthetic task is learnable"
    return model


def _spy_on_build(monkeypatch: pytest.MonkeyPatch) -> list:
    """The torchattacks ensembles the attack functions build, recorded as they are built."""
    built = []
    build = autoattack_module.build_autoattack

    def spy(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(autoattack_module, "build_autoattack", spy)
    return built


class _Attacked:
    """One toy model attacked once by ``autoattack_linf``, with the torchattacks ensemble it built."""

    def __init__(self, classes: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.classes, self.eps = classes, EPS[classes]
        self.model = _train(classes)
        self.x, self.y = _data(16, classes, 2)
        built = _spy_on_build(monkeypatch)
        self.rng_before = torch.get_rng_state()
        self.x_adv = autoattack_linf(self.model, self.x, self.y, self.eps, torch.Generator().manual_seed(0), ROW)
        self.rng_after = torch.get_rng_state()
        (self.ensemble,) = built


@pytest.fixture(scope="module", params=[3, 7], ids=["3-classes", "7-classes"])
def attacked(request: pytest.FixtureRequest) -> _Attacked:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _Attacked(request.param, monkeypatch)


def test_components_depend_on_the_number_of_classes() -> None:
    assert autoattack_components(7) == autoattack_components(4) == ("APGD-CE", "APGD-T", "FAB-T", "Square")
    assert autoattack_components(3) == ("APGD-CE", "APGD-DLR", "FAB", "Square")
    assert autoattack_components(3, rand=True) == autoattack_components(7, rand=True) == ("APGD-CE", "APGD-DLR")
    with pytest.raises(ValueError, match="3 classes"):
        autoattack_components(2)


def test_the_ensemble_run_is_the_one_named_with_reference_budgets(attacked: _Attacked) -> None:
    kinds = [(type(a).__name__, getattr(a, "loss", None), getattr(a, "multi_targeted", None))
             for a in attacked.ensemble.attacks]
    if attacked.classes == 3:  # no targeted component: targeted DLR needs four classes
        assert kinds == [("APGD", "ce", None), ("APGD", "dlr", None), ("FAB", None, False), ("Square", "margin", None)]
    else:
        assert kinds == [("APGD", "ce", None), ("APGDT", None, None), ("FAB", None, True), ("Square", "margin", None)]
        assert attacked.ensemble.attacks[1].n_target_classes == attacked.ensemble.attacks[2].n_target_classes == 6
    apgd, *_, square = attacked.ensemble.attacks
    assert [a.steps for a in attacked.ensemble.attacks[:3]] == [100, 100, 100]
    assert (square.n_queries, square.p_init, square.rescale_schedule) == (5000, 0.8, False)
    assert all(a.eps == attacked.eps and a.norm == "Linf" and not a.targeted for a in attacked.ensemble.attacks)
    assert apgd.eot_iter == 1


def test_autoattack_keeps_the_budget_and_breaks_images(attacked: _Attacked) -> None:
    check_budget(attacked.x_adv, attacked.x, attacked.eps)
    assert accuracy(attacked.model, attacked.x_adv, attacked.y) < accuracy(attacked.model, attacked.x, attacked.y)


def test_autoattack_is_reproducible_and_leaves_torch_random_state_alone(attacked: _Attacked) -> None:
    assert torch.equal(attacked.rng_before, attacked.rng_after)  # the library's reseeding does not leak
    again = autoattack_linf(attacked.model, attacked.x, attacked.y, attacked.eps, torch.Generator().manual_seed(0), ROW)
    assert torch.equal(again, attacked.x_adv)


def test_an_image_is_broken_when_any_component_breaks_it(attacked: _Attacked) -> None:
    """MultiAttack keeps per image the first successful adversarial, else the clean image; its first component
    sees the whole batch, so every image APGD-CE alone breaks is broken by the ensemble too."""
    model, x, y = attacked.model, attacked.x, attacked.y
    with torch.no_grad():
        fooled = model(attacked.x_adv).argmax(1) != y
    assert torch.equal(attacked.x_adv[~fooled], x[~fooled])
    with torch.random.fork_rng(devices=[]):
        apgd_alone = attacked.ensemble.attacks[0](x, y)
    with torch.no_grad():
        fooled_by_apgd = model(apgd_alone).argmax(1) != y
    assert bool((fooled | ~fooled_by_apgd).all())


def test_autoattack_is_not_weaker_than_pgd100(attacked: _Attacked) -> None:
    model, x, y, eps = attacked.model, attacked.x, attacked.y, attacked.eps
    pgd_accuracy = accuracy(model, pgd(model, x, y, eps, 100, torch.Generator().manual_seed(0)), y)
    assert 0.0 < pgd_accuracy < 1.0  # the comparison is not decided by the budget alone
    assert accuracy(model, attacked.x_adv, y) <= pgd_accuracy


def _vote_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """MedRDF's majority over 32 salt-and-pepper + median draws, as a plain accuracy."""
    defended = DefendedPipeline(model, SaltPepperNoise(0.1), MedianFilter(3), torch.Generator().manual_seed(9))
    with torch.no_grad():
        votes = torch.stack([defended(x).argmax(1) for _ in range(32)])
    return float((votes.mode(dim=0).values == y).float().mean())


def test_rand_version_attacks_the_defended_row(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _train(3)
    x, y = _data(16, 3, 2)
    built = _spy_on_build(monkeypatch)
    adv = autoattack_rand_linf(model, x, y, 0.05, torch.Generator().manual_seed(0), ROW)
    check_budget(adv, x, 0.05)
    assert _vote_accuracy(model, adv, y) < _vote_accuracy(model, x, y)
    (ensemble,) = built
    assert [(type(a).__name__, a.loss, a.eot_iter, a.steps) for a in ensemble.attacks] == [
        ("APGD", "ce", 20, 100), ("APGD", "dlr", 20, 100)]
    pipeline = ensemble.attacks[0].model
    assert isinstance(pipeline, DefendedPipeline) and pipeline.model is model
    assert isinstance(pipeline.noise, SaltPepperNoise) and pipeline.noise.sigma == 0.1
    assert isinstance(pipeline.denoise, MedianFilter) and pipeline.denoise.size == 3
    z = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pipeline.surrogate(z), mean_filter(3)(z))  # the smooth BPDA of eot-pgd-smooth
    assert torch.equal(autoattack_rand_linf(model, x, y, 0.05, torch.Generator().manual_seed(0), ROW), adv)


def test_registry_and_column_headers() -> None:
    assert [s.name for s in parse_attacks("autoattack")] == ["natural", "autoattack"]
    assert not ATTACKS["autoattack"].adaptive and ATTACKS["autoattack-rand"].adaptive
    assert ATTACKS["autoattack"].header(3) == "AutoAttack (APGD-CE, APGD-DLR, FAB, Square)"
    assert ATTACKS["autoattack"].header(7) == "AutoAttack (APGD-CE, APGD-T, FAB-T, Square)"
    assert ATTACKS["pgd100"].header(3) == "PGD-100"


def test_evaluate_runs_autoattack_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path, data_dir: Path,
                                             tiny_model_card: Path) -> None:
    from medrdf_gui.cli import main

    code = main(["evaluate", "--data", str(data_dir / "cxr3" / "test"), "--model", str(tiny_model_card),
                 "--attacks", "autoattack,autoattack-rand", "--n", "20", "--batch-size", "20", "--limit", "3",
                 "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "| Model | Natural | AutoAttack (APGD-CE, APGD-DLR, FAB, Square) | AutoAttack-rand" in out
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    # 3 images × (natural and autoattack: base + MedRDF rows; autoattack-rand: the MedRDF row only)
    assert len(records) == 3 * (2 + 2 + 1)
    assert all(r["linf"] <= 8 / 255 + 1e-6 for r in records)
