"""The feature-squeezing detector: its statistic, its calibration, its alert in the verdict, and the attacker who
knows it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from medrdf_gui.alerts import SQUEEZE
from medrdf_gui.attacks import ATTACKS
from medrdf_gui.attacks.detector_aware import pgd_squeeze
from medrdf_gui.audit import audit_entry
from medrdf_gui.cli import main
from medrdf_gui.modelzoo import load_model
from medrdf_gui.modelzoo.card import ModelCard
from medrdf_gui.modelzoo.testing import write_untrained_model
from medrdf_gui.robust import robust_predict
from medrdf_gui.robust.squeeze import bit_depth, calibrate, squeeze_distances
from synthetic import accuracy, check_budget
from test_attacks import EPS, _data, trained  # noqa: F401  (the trained toy fixture)


def test_bit_depth_keeps_sixteen_levels_and_the_statistic_is_a_distance() -> None:
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert len(torch.unique(bit_depth(x))) <= 16 and float((bit_depth(x) - x).abs().max()) <= 1 / 30 + 1e-6
    flat = torch.full((3, 1, 8, 8), 7 / 15)  # unchanged by a median and by 16 levels: nothing can move
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    assert torch.allclose(squeeze_distances(model, flat), torch.zeros(3), atol=1e-6)
    scores = squeeze_distances(model, torch.rand(16, 1, 8, 8))
    assert scores.shape == (16,) and bool((scores >= 0).all() and (scores <= 2).all())


def test_calibration_flags_the_requested_share() -> None:
    scores = torch.arange(1000, dtype=torch.float32) / 1000
    threshold = calibrate(scores, 0.05)
    assert float((scores > threshold).float().mean()) == pytest.approx(0.05, abs=0.002)
    with pytest.raises(ValueError):
        calibrate(scores, 0.0)


def _with_detector(card_path: Path, threshold: float) -> Path:
    card = ModelCard.load(card_path)
    card.detector = {"method": "feature-squeezing", "squeezers": ["median3", "bits4"], "threshold": threshold,
                     "target_flag_rate": 0.05, "flag_rate_val": 0.05, "images": 10, "data": "x/val", "command": ""}
    card.save(card_path)
    assert ModelCard.load(card_path).detector == card.detector  # the entry round-trips
    return card_path


def test_the_alert_turns_accept_into_re_evaluate_and_reaches_json_and_audit(tmp_path: Path) -> None:
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    results = {}
    for name, threshold in (("never", 10.0), ("always", -1.0)):
        card = _with_detector(write_untrained_model(tmp_path / name, name=name, size=32), threshold)
        results[name] = robust_predict(load_model(card), x, n=200, batch_size=100, seed=0, device="cpu",
                                       backend="torch", threshold=0.0)
    never, always = results["never"], results["always"]
    assert never.squeeze_score == pytest.approx(always.squeeze_score)  # same weights (seed 0), same image
    assert SQUEEZE not in [a.code for a in never.alerts] and never.squeeze_threshold == 10.0
    assert SQUEEZE in [a.code for a in always.alerts] and always.verdict == "re-evaluate"
    assert never.rm_verdict == always.rm_verdict  # the paper's rule is untouched by the detector
    assert json.loads(json.dumps(always.to_dict()))["squeeze_score"] == pytest.approx(always.squeeze_score)
    assert audit_entry(always)["result"]["squeeze_threshold"] == -1.0


def test_without_a_detector_there_is_no_score(tiny_model) -> None:
    r = robust_predict(tiny_model, torch.rand(1, 1, 32, 32), n=20, seed=0, device="cpu", backend="torch")
    assert r.squeeze_score is None and r.squeeze_threshold is None


def test_detector_fit_writes_a_calibrated_card_entry(capsys, tmp_path: Path) -> None:
    root = tmp_path / "data" / "toy"
    rng = np.random.default_rng(0)
    for cls in ("covid", "normal", "viral_pneumonia"):
        (root / "val" / cls).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(root / "val" / cls / f"{i}.png")
    card = write_untrained_model(tmp_path / "m", name="toy", size=32)
    code = main(["detector", "fit", str(card), "--data-dir", str(tmp_path / "data"), "--dataset", "toy", "--rate", "0.1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    entry = ModelCard.load(card).detector
    assert entry["method"] == "feature-squeezing" and entry["images"] == 60 and entry["data"] == "toy/val"
    # conformal rule: at most ⌊0.1 · 61⌋ − 1 = 5 of the 60 calibration images flagged, never more than the rate
    assert entry["flag_rate_val"] == pytest.approx(5 / 60, abs=1e-3) and "flags 8.3 % of 60 toy/val" in out
    assert main(["detector", "fit", str(card), "--data-dir", str(tmp_path / "data"), "--dataset", "none"]) == 2


def test_the_aware_attack_stays_in_budget_fools_the_model_and_keeps_the_statistic_lower(trained) -> None:  # noqa: F811
    x, y = _data(64, 3)
    eps = 0.06
    g = torch.Generator().manual_seed(0)
    aware = pgd_squeeze(trained, x, y, eps, steps=20, generator=g)
    plain = ATTACKS["pgd20"].fn(trained, x, y, eps, torch.Generator().manual_seed(0), None)
    check_budget(aware, x, eps)
    assert accuracy(trained, aware, y) < 0.5 * accuracy(trained, x, y)
    with torch.no_grad():
        fooled = trained(aware).argmax(1) != y
        # on the images both attacks fool, the aware one leaves the squeezed answers closer to the plain one
        both = fooled & (trained(plain).argmax(1) != y)
        assert int(both.sum()) >= 8
        assert float(squeeze_distances(trained, aware)[both].mean()) <= float(squeeze_distances(trained, plain)[both].mean())


def test_an_attacker_who_knows_the_alerts_evades_them_where_plain_pgd_is_caught(data_dir: Path) -> None:
    """On the shipped derma7 model: PGD's adversarial images leave the model's scope (the alert catches them), the
    alert-aware PGD keeps them inside scope and under the squeezing threshold while still fooling the model —
    the second figure any detector must be reported with (Carlini & Wagner 2017)."""
    from medrdf_gui.attacks import pgd
    from medrdf_gui.attacks.detector_aware import alert_aware_pgd
    from medrdf_gui.attacks.evaluate import balanced_files
    from medrdf_gui.modelzoo.scope import scope_probe

    model = load_model("derma7-resnet18")
    files = balanced_files(data_dir / "derma7" / "test", model.classes, 14)
    x = torch.cat([model.input_tensor(p) for p, _ in files])
    y = torch.tensor([label for _, label in files])
    module = model.module.eval()

    def silent(x_adv: torch.Tensor) -> tuple[int, int]:
        """(wrong, wrong with neither alert)"""
        with torch.no_grad():
            with scope_probe(model.scope, module) as probe:
                logits = module(x_adv)
            scope = model.scope.scores({n: probe.seen[n][-1] for n in model.scope.layers}, logits)
            squeeze = squeeze_distances(module, x_adv)
        wrong = logits.argmax(1) != y
        unflagged = (scope <= model.scope.threshold) & (squeeze <= model.card.detector["threshold"])
        return int(wrong.sum()), int((wrong & unflagged).sum())

    plain = pgd(module, x, y, EPS, 10, torch.Generator().manual_seed(0))
    aware = alert_aware_pgd(model, x, y, EPS, 10, torch.Generator().manual_seed(0))
    check_budget(aware, x, EPS)
    (plain_wrong, plain_silent), (aware_wrong, aware_silent) = silent(plain), silent(aware)
    assert plain_wrong >= 10 and aware_wrong >= 8
    assert aware_silent >= plain_silent + 5


def test_the_eot_attacker_who_knows_the_alerts_stays_in_budget_and_fools_the_vote(data_dir: Path) -> None:
    """``eot-pgd-aware`` against MedRDF on the shipped derma7 model: inside ε, and the defended pipeline (one
    noise draw per copy, the true median) is wrong on more images than on the clean ones."""
    from medrdf_gui.attacks.detector_aware import eot_alert_aware_pgd
    from medrdf_gui.attacks.evaluate import balanced_files
    from medrdf_gui.robust import RobustSettings
    from medrdf_gui.robust.denoise import make_denoiser
    from medrdf_gui.robust.noise import make_noise

    model = load_model("derma7-resnet18")
    files = balanced_files(data_dir / "derma7" / "test", model.classes, 14)
    x = torch.cat([model.input_tensor(p) for p, _ in files])
    y = torch.tensor([label for _, label in files])
    settings = RobustSettings(noise="salt-pepper", sigma=0.1, denoiser="median", kernel=3)
    spec = ATTACKS["eot-pgd-aware"]
    assert spec.adaptive and spec.knows_detectors  # evaluate gives it the LoadedModel and runs it per MedRDF row
    noise, denoise = make_noise(settings.noise, settings.sigma), make_denoiser(settings.denoiser, settings.kernel)
    x_adv = eot_alert_aware_pgd(model, x, y, EPS, noise, denoise, steps=6, draws=4,
                                generator=torch.Generator().manual_seed(0))  # the registry's 20 × 16, shortened
    check_budget(x_adv, x, EPS)
    gen = torch.Generator().manual_seed(1)

    def defended_accuracy(images: torch.Tensor) -> float:
        with torch.no_grad():
            copies = images.repeat_interleave(16, dim=0)
            preds = model.module(denoise(noise(copies, gen))).argmax(1).view(len(images), 16)
        return float((preds.mode(dim=1).values == y).float().mean())

    assert defended_accuracy(x_adv) < defended_accuracy(x) - 0.2
