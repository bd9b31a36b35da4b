"""Adversarial training: the objectives match their definitions, the inner attack respects the budget, a robust
toy model trained through the real Trainer keeps higher PGD accuracy than its standard twin, and downsampling
never enlarges an L∞ perturbation (the claim behind the 128 px robust cxr3 model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from medrdf_gui.modelzoo.preprocess import array_to_tensor
from medrdf_gui.training.adversarial import (AdversarialConfig, adversarial_loss, balanced_subset, craft,
                                             robust_accuracy)
from medrdf_gui.training.augment import AugmentConfig
from medrdf_gui.training.data import load_image_set
from medrdf_gui.training.recipes import RECIPES, Recipe
from medrdf_gui.training.trainer import Trainer

EPS = 8 / 255


class Linear(nn.Module):
    def __init__(self, d: int = 12, k: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(d, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("method", ["pgd-at", "trades", "mart"])
@pytest.mark.parametrize("steps", [1, 3])
def test_craft_stays_in_the_ball_and_in_range(method: str, steps: int) -> None:
    model = Linear()
    x = torch.rand(16, 1, 3, 4)
    x[:4] = 0.0  # at the border of [0, 1] the projection must clip
    x[4:8] = 1.0
    y = torch.randint(0, 3, (16,))
    cfg = AdversarialConfig(method=method, steps=steps)
    model.train()
    x_adv = craft(model, x, y, cfg, EPS, torch.Generator().manual_seed(1))
    assert model.training, "craft must restore train mode"
    assert (x_adv - x).abs().max() <= EPS + 1e-7
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert not x_adv.requires_grad


def test_craft_freezes_batch_norm_statistics() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(3))
    model(torch.rand(2, 1, 6, 6))
    model.train()
    before = model[1].running_mean.clone()
    craft(model, torch.rand(8, 1, 6, 6), torch.zeros(8, dtype=torch.long), AdversarialConfig(steps=3), EPS)
    assert torch.equal(before, model[1].running_mean)


def test_fgsm_random_start_increases_the_loss() -> None:
    model = Linear()
    x, y = torch.rand(64, 1, 3, 4) * 0.8 + 0.1, torch.randint(0, 3, (64,))
    x_adv = craft(model, x, y, AdversarialConfig(steps=1), EPS, torch.Generator().manual_seed(0))
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def test_trades_and_mart_losses_match_their_definitions() -> None:
    model = Linear()
    x, x_adv = torch.rand(8, 1, 3, 4), torch.rand(8, 1, 3, 4)
    y = torch.randint(0, 3, (8,))
    ce = nn.CrossEntropyLoss()
    nat, adv = model(x), model(x_adv)
    p_nat, p_adv = nat.softmax(1), adv.softmax(1)
    kl = (p_nat * (p_nat.log() - p_adv.log())).sum(1)

    loss, logits = adversarial_loss(model, x, x_adv, y, AdversarialConfig(method="trades", beta=6.0), ce)
    assert torch.allclose(logits, adv, atol=1e-6)
    assert torch.allclose(loss, ce(nat, y) + 6.0 * kl.mean(), atol=1e-5)

    loss, _ = adversarial_loss(model, x, x_adv, y, AdversarialConfig(method="mart", beta=5.0), ce)
    wrong = p_adv.clone()
    wrong[torch.arange(8), y] = -1
    top_wrong = p_adv[torch.arange(8), wrong.argmax(1)]
    boosted = ce(adv, y) - torch.log(1.0001 - top_wrong + 1e-12).mean()
    weight = 1.0000001 - p_nat[torch.arange(8), y]
    assert torch.allclose(loss, boosted + 5.0 * (kl * weight).mean(), atol=1e-5)

    loss, _ = adversarial_loss(model, x, x_adv, y, AdversarialConfig(method="pgd-at"), ce)
    assert torch.allclose(loss, ce(adv, y), atol=1e-6)


def test_epsilon_curriculum_and_step_sizes() -> None:
    cfg = AdversarialConfig(steps=1, eps_warmup=0.3)
    assert cfg.epsilon_at(0, 100) == pytest.approx(EPS / 30)
    assert cfg.epsilon_at(14, 100) == pytest.approx(EPS / 2)
    assert cfg.epsilon_at(29, 100) == pytest.approx(EPS)
    assert cfg.epsilon_at(99, 100) == pytest.approx(EPS)
    assert cfg.alpha(EPS) == pytest.approx(1.25 * EPS)
    assert AdversarialConfig(steps=4).alpha(EPS) == pytest.approx(2.5 * EPS / 4)
    with pytest.raises(ValueError):
        AdversarialConfig(method="fgsm")


def test_balanced_subset_is_balanced_and_deterministic() -> None:
    labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 30)
    idx = balanced_subset(labels, 30, seed=3)
    assert idx.numel() == 30 and idx.unique().numel() == 30
    counts = torch.bincount(labels[idx], minlength=3).tolist()
    assert counts[1] == 5 and abs(counts[0] - counts[2]) <= 1
    assert torch.equal(idx, balanced_subset(labels, 30, seed=3))


def test_recipes_are_registered_for_both_data_sets() -> None:
    for data in ("cxr3", "derma7"):
        for method in ("pgd", "trades", "mart"):
            recipe = RECIPES[f"{data}-resnet18-at-{method}"]
            assert recipe.adversarial is not None and recipe.adversarial.epsilon == pytest.approx(EPS)
            assert recipe.adversarial.init_from == f"{data}-resnet18"
    assert RECIPES["cxr3-resnet18-at-pgd"].input_size == 128


# -- downsampling never enlarges an L∞ perturbation -------------------------------------------------------------

@pytest.mark.parametrize("size", [(128, 128), (160, 160), (28, 28)])
def test_bilinear_antialiased_downsampling_keeps_the_linf_budget(size: tuple[int, int]) -> None:
    gen = np.random.default_rng(0)
    image = gen.random((224, 224))
    # the worst case for a linear filter: a sign pattern at the full budget, here plus a PGD-like random one
    for delta in (EPS * np.sign(gen.standard_normal((224, 224))), gen.uniform(-EPS, EPS, (224, 224))):
        attacked = np.clip(image + delta, 0, 1)
        small_clean = array_to_tensor(image, 1, size)
        small_attacked = array_to_tensor(attacked, 1, size)
        assert (small_attacked - small_clean).abs().max() <= EPS + 1e-6


def test_bicubic_downsampling_can_enlarge_it() -> None:
    """The guard above is not vacuous: bicubic's negative lobes do enlarge a sign pattern."""
    delta = torch.full((1, 1, 224, 224), EPS)
    delta[..., ::2, :] *= -1
    delta[..., 1::4, :] *= -1  # + - - + rows: a pattern whose local average is sharpened by negative weights
    out = F.interpolate(delta, size=(128, 128), mode="bicubic", align_corners=False, antialias=False)
    assert out.abs().max() > EPS * 1.01


# -- a robust toy model beats its standard twin under PGD ---------------------------------------------------------

def _write_split(root: Path, split: str, n: int, seed: int) -> None:
    """16×16 grey images in 2 classes (Tsipras et al.'s construction as an image): a large, *robust* bar (left vs
    right half, +0.4) that agrees with the label 80 % of the time, and a faint *non-robust* shift of every pixel
    by ±0.04 that always agrees; pixel noise σ = 0.1. A standard model leans on the faint shift (it is perfect),
    which an ε = 0.1 attack reverses; an adversarially trained model must use the bar (measured: standard
    1.00 natural / 0.00 PGD-10, adversarial 0.79 / 0.79)."""
    gen = np.random.default_rng(seed)
    for label in (0, 1):
        folder = root / split / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sign = 1 if label else -1
            img = 0.5 + sign * 0.04 + gen.normal(0, 0.1, (16, 16))
            bar_right = label if gen.random() < 0.8 else 1 - label
            img[:, 8:] += 0.4 if bar_right else 0.0
            img[:, :8] += 0.0 if bar_right else 0.4
            Image.fromarray((np.clip(img - 0.15, 0, 1) * 255).round().astype(np.uint8)).save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    for split, n, seed in (("train", 300, 0), ("val", 60, 1), ("test", 60, 2)):
        _write_split(root / "toy", split, n, seed)
    return root


TOY = Recipe(name="toy", dataset="toy", architecture="tinycnn", channels=1, input_size=16, mean=(0.5,), std=(0.25,),
             stages=((8, 16),), batch_size=32, lr=0.05, weight_decay=0.0, label_smoothing=0.0, optimizer="sgd-cosine",
             arch_options={"width": 8},
             augment=AugmentConfig(rotate_deg=0.0, scale=(1.0, 1.0), shift=0.0, brightness=0.0, contrast=0.0))
TOY_EPS = 0.1


def test_adversarially_trained_toy_model_is_more_robust_than_its_standard_twin(toy_data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    robust_recipe = replace(TOY, name="toy-at", adversarial=AdversarialConfig(
        method="pgd-at", epsilon=TOY_EPS, steps=3, eps_warmup=0.2, val_images=40, val_steps=5))
    scores = {}
    for recipe in (TOY, robust_recipe):
        trainer = Trainer(recipe, data_dir=toy_data, run_dir=tmp_path / recipe.name)
        trainer.run()
        card = trainer.export(tmp_path / "models", command="test")
        test_set = load_image_set(toy_data / "toy", "test", 1, (16, 16), trainer.train_set.classes)
        scores[recipe.name] = robust_accuracy(trainer.module, test_set.images, test_set.labels, TOY_EPS, steps=10)
        assert card.metrics["test"]["accuracy"] == pytest.approx(scores[recipe.name][0], abs=1e-9)
    std_nat, std_pgd = scores["toy"]
    at_nat, at_pgd = scores["toy-at"]
    assert std_nat >= 0.9  # the faint feature makes the standard model accurate ...
    assert std_pgd <= 0.2, scores  # ... and an ε-attack reverses it
    assert at_pgd >= std_pgd + 0.5, scores  # the robust twin keeps its diagnoses under the same attack ...
    assert at_pgd >= 0.7 and at_nat <= 0.9, scores  # ... by using the bar, at the bar's natural accuracy


def test_adversarial_run_resumes_and_records_itself_in_the_card(toy_data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    recipe = replace(TOY, name="toy-trades", stages=((2, 16),), adversarial=AdversarialConfig(
        method="trades", epsilon=TOY_EPS, steps=2, val_images=20, val_steps=2))
    first = Trainer(recipe, data_dir=toy_data, run_dir=tmp_path / "run")
    first.recipe = replace(recipe, stages=((1, 16),))  # stop after one epoch, as an interrupted job would
    first.run()
    assert first.epoch == 1
    resumed = Trainer(recipe, data_dir=toy_data, run_dir=tmp_path / "run")
    assert resumed.epoch == 1 and resumed.train_seconds > 0
    resumed.run()
    assert resumed.epoch == 2
    card = resumed.export(tmp_path / "models", command="medrdf train toy-trades", name="toy-shipped")
    assert card.name == "toy-shipped" and (tmp_path / "models" / "toy-shipped.safetensors").is_file()
    saved = json.loads((tmp_path / "models" / "toy-shipped.json").read_text())
    training = saved["training"]
    assert training["recipe"]["name"] == "toy-trades"
    assert training["recipe"]["adversarial"]["method"] == "trades"
    assert training["wall_seconds"] > 0 and "torch threads" in training["hardware"]
    assert training["val_robust"]["images"] == 20 and 0 <= training["val_robust"]["pgd"] <= 1
    assert "TRADES" in saved["description"]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all("val_pgd_acc" in r for r in log)


def test_bf16_training_learns_and_says_so_in_the_card(toy_data: Path, tmp_path: Path) -> None:
    """bf16 autocast (the cxr3 TRADES/MART recipes) trains as fp32 does on the toy task, keeps fp32 weights and
    logits for the losses, and the card says which arithmetic the training ran in."""
    torch.set_num_threads(1)
    with pytest.raises(ValueError, match="precision"):
        replace(TOY, precision="fp8")
    recipe = replace(TOY, name="toy-bf16", stages=((3, 16),), precision="bf16", adversarial=AdversarialConfig(
        method="trades", epsilon=TOY_EPS, steps=2, val_images=20, val_steps=2))
    trainer = Trainer(recipe, data_dir=toy_data, run_dir=tmp_path / "run")
    with trainer._autocast():
        logits = trainer.forward(trainer.val_set.images[:4].float().div(255))
    assert logits.dtype == torch.float32  # losses, softmax and KL see fp32 logits
    trainer.run()
    assert all(p.dtype == torch.float32 for p in trainer.module.parameters())
    card = trainer.export(tmp_path / "models", command="test")
    assert card.metrics["test"]["accuracy"] >= 0.7  # the bar (80 % agreement) or the faint shift: learnt
    training = json.loads((tmp_path / "models" / "toy-bf16.json").read_text())["training"]
    assert training["recipe"]["precision"] == "bf16" and "bf16 autocast" in training["recipe"]["optimizer"]
    assert "fp32" in Recipe.describe(TOY)["optimizer"]


def test_cxr3_trades_and_mart_recipes_train_in_bf16_at_160_px() -> None:
    for method in ("trades", "mart"):
        recipe = RECIPES[f"cxr3-resnet18-at-{method}"]
        assert (recipe.precision, recipe.input_size, recipe.resolution_at(0)) == ("bf16", 160, 160)
    assert RECIPES["cxr3-resnet18-at-pgd"].precision == "fp32"  # the shipped model's recipe, unchanged
