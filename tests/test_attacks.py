"""Attacks on a small model trained in-test on a synthetic task: budgets respected, stronger attacks hurt more,
and the evaluation table is produced and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from medrdf_gui.attacks import ATTACKS, cw_linf, eot_pgd, fgsm, ifgsm, parse_attacks, pgd, square_linf
from medrdf_gui.attacks.adaptive import BPDA_MODES, backward_surrogate, mean_filter, straight_through
from medrdf_gui.modelzoo.architectures import NormalizedClassifier, TinyCNN
from medrdf_gui.robust import GaussianSmoothing, MedianFilter, NoDenoiser, SaltPepperNoise
from synthetic import accuracy, check_budget

EPS = 8 / 255


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """16×16 grey images; class 1 when the right half is brighter than the left (by a margin of 0.1)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 16, 16, generator=g) * 0.4 + 0.3
    shift = (y.float() * 2 - 1).view(n, 1, 1, 1) * 0.05
    x[..., 8:] += shift
    x[..., :8] -= shift
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def trained() -> NormalizedClassifier:
    torch.manual_seed(0)
    model = NormalizedClassifier(TinyCNN(num_classes=2, channels=1, width=8), [0.5], [0.25])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _data(1024, 0)
    for step in range(60):
        idx = torch.randint(0, 1024, (32,), generator=torch.Generator().manual_seed(step))
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt = _data(256, 1)
    assert (model(xt).argmax(1) == yt).float().mean() > 0.95, "the synthetic task is learnable"
    return model


def test_whitebox_attacks_respect_budget_and_stronger_is_worse(trained) -> None:
    x, y = _data(128, 2)
    eps = 0.06  # larger than the class margin, so a perfect attack always succeeds
    clean = accuracy(trained, x, y)
    g = torch.Generator().manual_seed(0)
    results = {}
    for name, adv in {
        "fgsm": fgsm(trained, x, y, eps),
        "ifgsm1": ifgsm(trained, x, y, eps, 1),
        "ifgsm7": ifgsm(trained, x, y, eps, 7),
        "pgd20": pgd(trained, x, y, eps, 20, g),
        "cw": cw_linf(trained, x, y, eps, 30, g),
    }.items():
        check_budget(adv, x, eps)
        results[name] = accuracy(trained, adv, y)
    assert torch.equal(fgsm(trained, x, y, eps), ifgsm(trained, x, y, eps, 1))  # one step of size ε is FGSM
    assert results["fgsm"] < clean
    assert results["pgd20"] <= results["fgsm"] and results["ifgsm7"] <= results["fgsm"]
    assert results["pgd20"] < 0.2 and results["cw"] < 0.2


def test_square_attack_is_black_box_and_effective(trained) -> None:
    x, y = _data(12, 3)
    eps = 0.08
    adv = square_linf(trained, x, y, eps, queries=150, generator=torch.Generator().manual_seed(0))
    check_budget(adv, x, eps)
    assert accuracy(trained, adv, y) < accuracy(trained, x, y)


class _QueryCounter(nn.Module):
    """The model, counting forward passes and refusing gradients: a black-box attack may only query it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.images = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += x.shape[0]
        with torch.no_grad():
            return self.model(x)


def test_spsa_and_rays_are_black_box_effective_and_within_budget(trained) -> None:
    from medrdf_gui.attacks.blackbox import rays_linf, spsa_linf

    x, y = _data(12, 3)
    eps = 0.08
    counted = _QueryCounter(trained)
    adv = spsa_linf(counted, x, y, eps, iterations=20, samples=32, generator=torch.Generator().manual_seed(0))
    check_budget(adv, x, eps)
    assert accuracy(trained, adv, y) <= 0.5 * accuracy(trained, x, y)
    assert counted.images <= 20 * (2 * 32 + 1) * 12 + 12  # probes and success checks, nothing else
    again = spsa_linf(trained, x, y, eps, iterations=20, samples=32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(adv, again)  # seeded from our generator, whatever torch's global one holds
    counted = _QueryCounter(trained)
    adv = rays_linf(counted, x, y, eps, queries=300)
    check_budget(adv, x, eps)
    assert accuracy(trained, adv, y) <= 0.5 * accuracy(trained, x, y)
    assert counted.images <= 12 * 302  # the query budget per image (+ the initial check)


def test_rays_stops_at_the_budget_on_a_model_it_cannot_fool() -> None:
    from medrdf_gui.attacks.blackbox import rays_linf

    constant = _QueryCounter(nn.Sequential(nn.Flatten(), nn.Linear(256, 2)))
    with torch.no_grad():
        constant.model[1].weight.zero_()
        constant.model[1].bias.copy_(torch.tensor([1.0, 0.0]))
    x, _ = _data(2, 5)
    adv = rays_linf(constant, x, torch.zeros(2, dtype=torch.long), 0.03, queries=50)
    check_budget(adv, x, 0.03)
    assert constant.images <= 2 * 52


@pytest.mark.parametrize("bpda", BPDA_MODES)
def test_eot_pgd_attacks_the_defended_pipeline(trained, bpda: str) -> None:
    x, y = _data(16, 4)
    adv = eot_pgd(trained, x, y, 0.06, SaltPepperNoise(0.05), MedianFilter(3), steps=10, draws=4,
                  generator=torch.Generator().manual_seed(0), bpda=bpda)
    check_budget(adv, x, 0.06)
    assert accuracy(trained, MedianFilter(3)(adv), y) < accuracy(trained, MedianFilter(3)(x), y)


def test_mean_filter_matches_scipy_uniform_filter() -> None:
    from scipy.ndimage import uniform_filter

    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for k in (3, 5):
        expected = uniform_filter(x.numpy(), size=(1, 1, k, k), mode="reflect")
        assert torch.allclose(mean_filter(k)(x), torch.from_numpy(expected))


def test_bpda_forward_is_the_denoiser_and_backward_the_surrogate() -> None:
    z = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    median = MedianFilter(3)
    out = straight_through(median, z, backward_surrogate(median, "smooth"))
    assert torch.equal(out.detach(), median(z.detach()))
    (grad,) = torch.autograd.grad((out * w).sum(), z)
    (expected,) = torch.autograd.grad((mean_filter(3)(z) * w).sum(), z)
    assert torch.allclose(grad, expected)
    (identity_grad,) = torch.autograd.grad((straight_through(median, z) * w).sum(), z)
    assert torch.equal(identity_grad, w)  # identity BPDA passes the upstream gradient through unchanged


def test_backward_surrogate_per_denoiser() -> None:
    smoothing = GaussianSmoothing(1.0)
    assert backward_surrogate(smoothing, "smooth") is smoothing  # differentiable: its own exact gradient
    assert backward_surrogate(MedianFilter(3), "identity") is None
    assert backward_surrogate(NoDenoiser(), "smooth") is None
    assert backward_surrogate(MedianFilter(1), "smooth") is None  # a 1×1 median is the identity
    with pytest.raises(ValueError, match="BPDA"):
        backward_surrogate(MedianFilter(3), "sigmoid")


def test_attack_names_parse() -> None:
    specs = parse_attacks("pgd20,cw")
    assert [s.name for s in specs] == ["natural", "pgd20", "cw"]
    assert ATTACKS["eot-pgd"].adaptive and ATTACKS["eot-pgd-smooth"].adaptive and not ATTACKS["pgd20"].adaptive
    with pytest.raises(ValueError, match="unknown attack"):
        parse_attacks("deepfool")


def test_evaluation_writes_a_resumable_table(tmp_path: Path, tiny_model, data_dir: Path) -> None:
    from medrdf_gui.attacks.evaluate import Defence, Evaluation
    from medrdf_gui.robust import RobustSettings

    def make() -> Evaluation:
        return Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm,eot-pgd-small"),
                          [Defence("salt-pepper", "median")], RobustSettings(n=20, batch_size=20, device="cpu"),
                          EPS, tmp_path, limit=3, seed=0)

    ev = make()
    ev.run()
    records = (tmp_path / "records.jsonl").read_text().splitlines()
    # 3 images × (natural: 2 rows + fgsm: 2 rows + adaptive: 1 row)
    assert len(records) == 15
    assert all(json.loads(r)["linf"] <= EPS + 1e-6 for r in records)
    make().run()  # resume: nothing left to do
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 15
    csv_path, md_path = ev.write_tables()
    header = csv_path.read_text().splitlines()[0]
    assert header.startswith("Model,Natural,FGSM")
    md = md_path.read_text()
    assert "Base model" in md and "MedRDF salt-pepper + MF" in md and "on 3 images" in md


def _records(path: Path) -> dict[tuple[str, str, str], dict]:
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    return {(r["file"], r["attack"], r["row"]): r for r in recs}


def test_batched_attacks_match_one_image_at_a_time(tmp_path: Path, tiny_model, data_dir: Path) -> None:
    """FGSM is deterministic and votes are seeded per image, so the attack batch may change nothing but speed."""
    from medrdf_gui.attacks.evaluate import Defence, Evaluation
    from medrdf_gui.robust import RobustSettings

    def run(out: Path, batch: int) -> dict:
        Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm"), [Defence("salt-pepper", "median")],
                   RobustSettings(n=20, batch_size=20, device="cpu"), EPS, out, limit=4, seed=0).run(attack_batch=batch)
        return _records(out / "records.jsonl")

    single, batched = run(tmp_path / "single", 1), run(tmp_path / "batched", 3)
    assert single.keys() == batched.keys() and len(single) == 4 * 2 * 2
    for key, rec in single.items():
        assert batched[key]["correct"] == rec["correct"] and batched[key]["abstained"] == rec["abstained"]
        assert abs(batched[key]["linf"] - rec["linf"]) < 1e-6


def test_a_resumed_batched_run_draws_what_a_fresh_one_would(tmp_path: Path, tiny_model, data_dir: Path) -> None:
    from medrdf_gui.attacks.evaluate import Defence, Evaluation
    from medrdf_gui.robust import RobustSettings

    def run(out: Path) -> None:
        Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("pgd7,eot-pgd-small"),
                   [Defence("salt-pepper", "median"), Defence("gaussian", "gaussian", 1.0)],
                   RobustSettings(n=20, batch_size=20, device="cpu"), EPS, out, limit=3, seed=0).run(attack_batch=2)

    run(tmp_path / "fresh")
    fresh = (tmp_path / "fresh" / "records.jsonl").read_text().splitlines()
    (tmp_path / "resumed").mkdir()
    # drop the adaptive records of the second row only: the resumed run skips the first row's attack
    kept = [line for line in fresh if not ('"eot-pgd-small"' in line and "gaussian + GS" in line)]
    assert len(kept) < len(fresh)
    (tmp_path / "resumed" / "records.jsonl").write_text("\n".join(kept) + "\n")
    run(tmp_path / "resumed")
    assert _records(tmp_path / "resumed" / "records.jsonl") == _records(tmp_path / "fresh" / "records.jsonl")
    with pytest.raises(ValueError, match="attack_batch"):
        Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm"), [Defence("salt-pepper", "median")],
                   RobustSettings(n=20, batch_size=20, device="cpu"), EPS, tmp_path / "x", limit=1).run(attack_batch=0)


def test_worst_case_counts_images_right_under_every_attack(tmp_path: Path, tiny_model, data_dir: Path) -> None:
    """Hand-made records: the worst case is the share of complete images right in all of their row's columns."""
    from medrdf_gui.attacks.evaluate import BASE_ROW, Defence, Evaluation
    from medrdf_gui.robust import RobustSettings

    defence = Defence("salt-pepper", "median")
    ev = Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm,eot-pgd-small"), [defence],
                    RobustSettings(n=20, batch_size=20, device="cpu"), EPS, tmp_path, limit=3, seed=0)
    names = [f.name for f, _ in ev.files]
    outcomes = {  # (file, attack, row) -> correct; the third image lacks its adaptive record
        (names[0], "natural", BASE_ROW): True, (names[0], "fgsm", BASE_ROW): True,
        (names[1], "natural", BASE_ROW): True, (names[1], "fgsm", BASE_ROW): False,
        (names[2], "natural", BASE_ROW): True, (names[2], "fgsm", BASE_ROW): True,
        (names[0], "natural", defence.row): True, (names[0], "fgsm", defence.row): True,
        (names[0], "eot-pgd-small", defence.row): False,
        (names[1], "natural", defence.row): True, (names[1], "fgsm", defence.row): True,
        (names[1], "eot-pgd-small", defence.row): True,
        (names[2], "natural", defence.row): False, (names[2], "fgsm", defence.row): False,
    }
    for (f, a, row), correct in outcomes.items():
        ev._record({"file": f, "label": 0, "attack": a, "row": row, "correct": correct, "abstained": False, "linf": 0.0})
    header, rows = ev.table()
    assert header[-1] == "Worst case"
    assert rows[0][-1] == "66.7"  # base: images 1 and 3 survive natural and FGSM (adaptive is not its column)
    assert rows[1][-1] == "50.0"  # MedRDF: of the two complete images, the second survives everything
    assert rows[1][3] == "50.0 (0.0)"
    # the card entry: natural accuracy of the row against the base model on the same (all three) images
    (entry,) = ev.defence_entries()
    assert (entry["noise"], entry["denoiser"], entry["kernel"], entry["images"]) == ("salt-pepper", "median", 3, 3)
    assert (entry["natural_accuracy"], entry["base_accuracy"], entry["data"]) == (66.7, 100.0, "cxr3/test")


def test_each_adaptive_row_draws_the_same_whatever_was_resumed(tmp_path: Path, tiny_model, data_dir: Path) -> None:
    """The adaptive attack's random draws for a row may not depend on which other rows were already finished."""
    from medrdf_gui.attacks.evaluate import Defence, Evaluation
    from medrdf_gui.attacks.registry import AttackSpec
    from medrdf_gui.robust import RobustSettings

    draws: dict[str, list[float]] = {}

    def spy(model, x, y, eps, gen, settings):
        draws.setdefault(settings.noise, []).append(float(torch.rand(1, generator=gen, device=x.device)))
        return x

    attack = AttackSpec("spy", "Spy", spy, adaptive=True)
    defences = [Defence("salt-pepper", "median"), Defence("gaussian", "gaussian", 1.0)]

    def run(out: Path) -> dict[str, list[float]]:
        draws.clear()
        Evaluation(tiny_model, data_dir / "cxr3" / "test", [ATTACKS["natural"], attack], defences,
                   RobustSettings(n=20, batch_size=20, device="cpu"), EPS, out, limit=2, seed=0).run(attack_batch=2)
        return dict(draws)

    fresh = run(tmp_path / "fresh")
    assert set(fresh) == {"salt-pepper", "gaussian"} and fresh["salt-pepper"] != fresh["gaussian"]
    records = (tmp_path / "fresh" / "records.jsonl").read_text().splitlines()
    (tmp_path / "resumed").mkdir()
    (tmp_path / "resumed" / "records.jsonl").write_text(
        "\n".join(line for line in records if not ('"spy"' in line and "gaussian + GS" in line)) + "\n")
    assert run(tmp_path / "resumed") == {"gaussian": fresh["gaussian"]}


def test_random_rp_row_votes_over_resize_pad_and_records_the_single_draw_share(tmp_path: Path, tiny_model,
                                                                               data_dir: Path) -> None:
    """TABLE XI's Random R-P row: `--defences resize-pad+none`, attacked by transfer and by EOT through the
    transformation; ``p_label`` is the share of copies naming the true class (Xie et al.'s single-draw accuracy
    is its mean)."""
    from medrdf_gui.attacks.evaluate import RANDOM_RP_ROW, Defence, Evaluation, parse_defences
    from medrdf_gui.robust import RobustSettings

    defences = parse_defences([], [], pairs=[("salt-pepper", "median"), ("resize-pad", "none")])
    assert [d.row for d in defences] == ["MedRDF salt-pepper + MF", RANDOM_RP_ROW]
    Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm,eot-pgd-small"), defences,
               RobustSettings(n=20, batch_size=20, device="cpu"), EPS, tmp_path, limit=2, seed=0).run()
    recs = _records(tmp_path / "records.jsonl")
    rp = [r for (f, a, row), r in recs.items() if row == RANDOM_RP_ROW]
    assert {r["attack"] for r in rp} == {"natural", "fgsm", "eot-pgd-small"} and len(rp) == 6
    for r in rp:
        assert 0.0 <= r["p_label"] <= 1.0 and r["linf"] <= EPS + 1e-6
        assert "ood_score" in r  # None: the tiny model has no scope statistics
        if r["correct"]:
            assert r["p_label"] > 0.5  # a vote that passed names the class most copies named


def test_rows_at_several_noise_levels_share_the_transferred_attack(tmp_path: Path, tiny_model, data_dir: Path) -> None:
    """TABLE I's layout: one run, one MedRDF row per σ, named with it; each row votes (and its adaptive attack
    aims) at its own σ; the transferred image is crafted once for all rows; the run refuses another σ set."""
    from medrdf_gui.attacks.evaluate import Evaluation, parse_defences
    from medrdf_gui.robust import RobustSettings

    defences = parse_defences(["salt-pepper"], ["median"], sigmas=[0.05, 0.3])
    assert [d.row for d in defences] == ["MedRDF salt-pepper σ 0.05 + MF", "MedRDF salt-pepper σ 0.3 + MF"]
    settings = RobustSettings(n=20, batch_size=20, device="cpu")
    ev = Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm,eot-pgd-small"), defences, settings,
                    EPS, tmp_path, limit=2, seed=0)
    assert [ev._row_settings(d).sigma for d in defences] == [0.05, 0.3]
    ev.run()
    recs = _records(tmp_path / "records.jsonl")
    assert len(recs) == 2 * (3 + 3 + 2)  # natural and fgsm: base + two rows; adaptive: the two rows
    for (f, attack, row), rec in recs.items():
        if row != "Base model":
            assert rec["sigma"] == (0.05 if "0.05" in row else 0.3)
    for f in {k[0] for k in recs}:  # the transferred image is the same for both rows
        assert recs[(f, "fgsm", defences[0].row)]["linf"] == recs[(f, "fgsm", defences[1].row)]["linf"]
    assert json.loads((tmp_path / "run.json").read_text())["sigma"] == [0.05, 0.3]
    entries = ev.robustness_entries()
    assert sorted(e.get("sigma", -1) for e in entries) == [-1, 0.05, 0.3]
    with pytest.raises(ValueError, match="another run"):
        Evaluation(tiny_model, data_dir / "cxr3" / "test", parse_attacks("fgsm"),
                   parse_defences(["salt-pepper"], ["median"], sigmas=[0.1]), settings, EPS, tmp_path, limit=2)
    assert parse_defences(["salt-pepper"], ["median"])[0].row == "MedRDF salt-pepper + MF"  # without σ: as before
