"""AG-Sononet-16 (the paper's TABLE V network): shapes in both configurations, gradients, the gates' attention maps,
a card round trip through the registry, Grad-CAM on its last stage, the recipes and a seconds-long training run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from medrdf_gui.explain import base_gradcam, gate_maps
from medrdf_gui.modelzoo import NormalizedClassifier, build_network, load_model
from medrdf_gui.modelzoo.architectures import gradcam_layer
from medrdf_gui.modelzoo.scope import stage_layers
from medrdf_gui.modelzoo.testing import write_untrained_model
from medrdf_gui.training.recipes import RECIPES
from medrdf_gui.training.trainer import Trainer

DERMA7 = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
# (channels, classes, input side, arch_options): cxr3 and derma7 as their recipes build them
CONFIGS = {"cxr3": (1, 3, 224, {}), "derma7": (3, 7, 28, {"small_input": True})}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net(config: str, seed: int = 0) -> torch.nn.Module:
    channels, classes, _, options = CONFIGS[config]
    torch.manual_seed(seed)
    return build_network("agsononet16", classes, channels, **options)


def _images(config: str, batch: int, seed: int = 0) -> torch.Tensor:
    channels, _, side, _ = CONFIGS[config]
    return torch.rand(batch, channels, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("config,grid", [("cxr3", 14), ("derma7", 3)])
def test_logits_shape_and_the_coarsest_grid(config: str, grid: int) -> None:
    net = _net(config).eval()
    seen: list[torch.Tensor] = []
    handle = net.layer5.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        logits = net(_images(config, 2))
    handle.remove()
    assert logits.shape == (2, CONFIGS[config][1]) and torch.isfinite(logits).all()
    assert seen[0].shape[-2:] == (grid, grid)  # 28 px keeps a 3×3 gating signal (small_input drops one pool)


def test_gradient_reaches_the_input_and_every_parameter() -> None:
    net = _net("derma7").train()
    x = _images("derma7", 4).requires_grad_(True)
    net(x).logsumexp(dim=1).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("config", CONFIGS)
def test_attention_maps_have_the_input_size_and_lie_in_unit_range(config: str) -> None:
    net = _net(config).eval()
    x = _images(config, 2)
    with torch.no_grad():
        maps = net.attention_maps(x)
        resized = net.attention_maps(x, size=(40, 30))
    assert set(maps) == {"layer3", "layer4"}
    side = CONFIGS[config][2]
    for name, alpha in maps.items():
        assert alpha.shape == (2, side, side) and resized[name].shape == (2, 40, 30)
        assert torch.isfinite(alpha).all() and alpha.min() >= 0.0 and alpha.max() <= 1.0
        assert alpha.std() > 0  # a map, not a constant


@pytest.mark.parametrize("config", CONFIGS)
def test_card_round_trip_gives_identical_logits_and_gradcam_on_the_last_stage(config: str, tmp_path: Path) -> None:
    channels, classes, side, options = CONFIGS[config]
    names = DERMA7 if classes == 7 else None
    card_path = write_untrained_model(tmp_path, name=f"{config}-ag", classes=names, channels=channels, size=side,
                                      architecture="agsononet16", **options)
    model = load_model(card_path)
    assert model.card.target_layer == gradcam_layer("agsononet16") == "net.layer5"
    assert model.card.arch_options == options
    twin = NormalizedClassifier(_net(config), model.card.mean, model.card.std).eval()
    x = _images(config, 2, seed=1)
    with torch.no_grad():
        assert torch.equal(model.module(x), twin(x))
    cam = base_gradcam(model, x[:1])
    assert cam.shape == (side, side) and cam.min() >= 0.0 and cam.max() <= 1.0
    assert base_gradcam(model, x[:1], 0, size=(50, 40)).shape == (50, 40)
    assert stage_layers(model.module) == [f"net.layer{i}" for i in range(1, 6)]  # the scope detector's stages
    gates = gate_maps(model, x[:1], size=(50, 40))
    with torch.no_grad():
        direct = model.module.net.attention_maps(model.module.normalise(x[:1]), (50, 40))
    assert set(gates) == {"layer3", "layer4"}
    for name, values in gates.items():
        assert values.shape == (50, 40) and values.dtype.name == "float32"
        assert torch.equal(torch.from_numpy(values), direct[name][0])


def test_a_network_without_gates_has_no_gate_maps(tiny_model) -> None:
    assert gate_maps(tiny_model, torch.rand(1, 1, 32, 32)) == {}


def test_recipes_follow_the_resnet18_ones() -> None:
    for dataset in ("cxr3", "derma7"):
        ours, base = RECIPES[f"{dataset}-agsononet16"], RECIPES[f"{dataset}-resnet18"]
        assert ours.name == f"{dataset}-agsononet16" and ours.architecture == "agsononet16"
        assert (ours.dataset, ours.input_size, ours.stages, ours.augment) == (base.dataset, base.input_size,
                                                                             base.stages, base.augment)
    assert RECIPES["derma7-agsononet16"].arch_options == {"small_input": True}
    assert RECIPES["cxr3-agsononet16"].arch_options == {}


def test_a_tiny_training_run_exports_a_loadable_card(data_dir: Path, tmp_path: Path) -> None:
    recipe = replace(RECIPES["derma7-agsononet16"], stages=((1, 28),))
    trainer = Trainer(recipe, data_dir=data_dir, run_dir=tmp_path / "run", limit_per_class=2)
    trainer.run()
    card = trainer.export(tmp_path / "models", command="test")
    assert card.architecture == "agsononet16" and card.target_layer == "net.layer5"
    assert card.arch_options == {"small_input": True} and card.training["epochs"] == 1
    model = load_model(card.path, with_scope=False)
    assert model.module(torch.rand(1, 3, 28, 28)).shape == (1, 7)
