"""The networks the app builds without torchvision hold the shipped weights and compute torchvision's logits."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from medrdf_gui.modelzoo import available_cards, load_model
from medrdf_gui.modelzoo.architectures import build_network

torchvision = pytest.importorskip("torchvision")  # the reference; a dev install has it, the CPU bundle does not


def _torchvision_twin(architecture: str, num_classes: int, channels: int, small_input_stem: bool = False,
                      stem_pool: bool = False, **_) -> nn.Module:
    """How the app built its ResNets before: torchvision's, with the stem adapted."""
    net = getattr(torchvision.models, architecture)(weights=None, num_classes=num_classes)
    if small_input_stem:
        net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        if not stem_pool:
            net.maxpool = nn.Identity()
    elif channels != 3:
        net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


@pytest.mark.parametrize("architecture,options", [("resnet18", {}), ("resnet50", {}),
                                                  ("resnet18", {"small_input_stem": True, "stem_pool": True}),
                                                  ("resnet18", {"small_input_stem": True})])
@pytest.mark.parametrize("channels", [1, 3])
def test_same_parameter_names_and_shapes_as_torchvision(architecture: str, options: dict, channels: int) -> None:
    ours = build_network(architecture, 7, channels, **options).state_dict()
    theirs = _torchvision_twin(architecture, 7, channels, **options).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


# Every shipped model whose architecture torchvision has (the ResNets); AG-Sononet-16 is the app's own and
# has no twin there (tests/test_agsononet.py checks it against its definition).
@pytest.mark.parametrize("card", [c for c in available_cards() if hasattr(torchvision.models, c.architecture)],
                         ids=lambda c: c.name)
def test_every_shipped_model_gives_torchvisions_logits(card) -> None:
    model = load_model(card.name, with_scope=False)
    twin = _torchvision_twin(card.architecture, len(card.classes), card.channels, **(card.arch_options or {}))
    twin.load_state_dict(model.module.net.state_dict())
    twin.eval()
    h, w = card.input_size
    x = torch.rand(4, card.channels, h, w, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours = model.module(x)
        theirs = twin((x - model.module.mean) / model.module.std)
    assert torch.equal(ours.argmax(1), theirs.argmax(1))
    assert float((ours - theirs).abs().max()) <= 1e-4 * max(1.0, float(theirs.abs().max()))


def test_loading_and_running_a_shipped_model_never_imports_torchvision() -> None:
    """The CPU bundle leaves torchvision out: a blocked import must not matter to the model zoo or the engine."""
    code = ("import sys; sys.modules['torchvision'] = None\n"
            "import torch\n"
            "from medrdf_gui.modelzoo import load_model\n"
            "from medrdf_gui.robust import RobustSettings, robust_predict\n"
            "m = load_model('derma7-resnet18')\n"
            "r = robust_predict(m, torch.rand(1, 3, 28, 28), RobustSettings(n=20, batch_size=20, seed=0, backend='torch'))\n"
            "print(r.label in range(7))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
