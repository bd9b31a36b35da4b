"""Grad-CAM of the base and the defended model: size, range, locality, reproducibility, progress and cancel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from medrdf_gui.explain import (
    ExplainError,
    GradCAM,
    attention_maps,
    base_gradcam,
    defended_class_index,
    defended_gradcam,
)
from medrdf_gui.robust import Cancelled, robust_predict

QUADRANTS = ["top_left", "top_right", "bottom_left", "bottom_right"]


class QuadrantFeatures(nn.Module):
    """A fixed 3×3 box-blur conv feature, split into four channels: channel q is the feature inside quadrant q
    and zero elsewhere. The Grad-CAM target layer of :class:`QuadrantNet`."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        nn.init.constant_(self.conv.weight, 1.0 / 9.0)
        half = size // 2
        masks = torch.zeros(4, size, size)
        masks[0, :half, :half] = 1
        masks[1, :half, half:] = 1
        masks[2, half:, :half] = 1
        masks[3, half:, half:] = 1
        self.register_buffer("masks", masks[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.masks


class QuadrantNet(nn.Module):
    """Built by hand: the logit of class q is the mean of the conv feature over quadrant q, so the decision for
    class q depends on that quadrant only and its Grad-CAM must light up there and nowhere else."""

    def __init__(self, size: int = 32) -> None:
        super().__init__()
        self.features = QuadrantFeatures(size)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(x)
        return feats.sum(dim=(2, 3)) / self.features.masks.sum(dim=(2, 3))


def _quadrant_means(cam: np.ndarray) -> np.ndarray:
    h, w = cam.shape[0] // 2, cam.shape[1] // 2
    return np.array([cam[:h, :w].mean(), cam[:h, w:].mean(), cam[h:, :w].mean(), cam[h:, w:].mean()])


@pytest.fixture(scope="module")
def quadrant_case():
    torch.manual_seed(0)
    net = QuadrantNet(32).eval()
    x = 0.3 + 0.6 * torch.rand(1, 1, 32, 32)  # positive everywhere: every quadrant has feature to show
    result = robust_predict(net, x, classes=QUADRANTS, n=20, seed=5, device="cpu")
    return net, x, result


@pytest.fixture(scope="module")
def tiny_case(tiny_model, cxr_png):
    x = tiny_model.input_tensor(cxr_png)
    result = robust_predict(tiny_model, x, n=50, seed=11, device="cpu")
    return tiny_model, x, result


def _assert_valid_map(cam: np.ndarray, size: tuple[int, int]) -> None:
    assert cam.shape == size and cam.dtype == np.float32
    assert np.isfinite(cam).all()
    assert cam.min() >= 0.0 and cam.max() <= 1.0
    assert cam.max() == pytest.approx(1.0)  # normalised, not merely bounded


def test_maps_have_requested_size_are_finite_and_in_unit_range(tiny_case) -> None:
    model, x, result = tiny_case
    _assert_valid_map(base_gradcam(model, x), (32, 32))  # default: the model input size
    _assert_valid_map(base_gradcam(model, x, "normal", size=(50, 70)), (50, 70))  # a chosen class, by name
    _assert_valid_map(defended_gradcam(model, x, result, copies=6, size=(61, 45)), (61, 45))
    maps = attention_maps(model, x, result, copies=4, size=(40, 30))
    _assert_valid_map(maps.base, (40, 30))
    _assert_valid_map(maps.defended, (40, 30))
    assert maps.size == (40, 30) and maps.copies == 4 and maps.seed == result.seed
    assert maps.target_layer == model.card.target_layer == "net.layer4"


@pytest.mark.parametrize("quadrant", range(4))
def test_map_peaks_in_the_region_the_decision_depends_on(quadrant_case, quadrant: int) -> None:
    net, x, result = quadrant_case
    for cam in (
        base_gradcam(net, x, quadrant, target_layer="features"),
        base_gradcam(net, x, QUADRANTS[quadrant], target_layer="features", size=(64, 48), classes=QUADRANTS),
        defended_gradcam(net, x, result, target=quadrant, copies=8, target_layer="features"),
    ):
        means = _quadrant_means(cam)
        assert int(np.argmax(means)) == quadrant
        others = np.delete(means, quadrant)
        assert means[quadrant] > 0.4 and others.max() < 0.05 * means[quadrant]
        row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
        assert (row >= cam.shape[0] // 2, col >= cam.shape[1] // 2) == divmod(quadrant, 2)


def test_defended_map_with_fixed_seed_is_deterministic(tiny_case) -> None:
    model, x, result = tiny_case
    first = defended_gradcam(model, x, result, copies=8, batch_size=3)
    again = defended_gradcam(model, x, result, copies=8, batch_size=3)
    assert np.array_equal(first, again)
    other_seed = defended_gradcam(model, x, dataclasses.replace(result, seed=result.seed + 1), copies=8, batch_size=3)
    assert not np.array_equal(first, other_seed)


def test_defended_map_explains_the_medrdf_class_or_the_base_class_when_abstained(tiny_case) -> None:
    _, _, result = tiny_case
    decided = dataclasses.replace(result, abstained=False, label=2, base_label=0)
    abstained = dataclasses.replace(result, abstained=True, label=None, diagnosis=None, base_label=1)
    assert defended_class_index(decided) == 2
    assert defended_class_index(abstained) == 1


def test_progress_is_reported_per_batch_and_cancel_stops(tiny_case) -> None:
    model, x, result = tiny_case
    seen: list[tuple[int, int]] = []
    attention_maps(model, x, result, copies=10, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 11), (5, 11), (9, 11), (11, 11)]

    calls: list[int] = []

    def cancel_after_first_batch() -> bool:
        calls.append(1)
        return len(calls) > 2  # one check before the base map, one before the first batch

    progress: list[tuple[int, int]] = []
    with pytest.raises(Cancelled):
        attention_maps(model, x, result, copies=10, batch_size=4, progress=lambda d, t: progress.append((d, t)),
                       should_cancel=cancel_after_first_batch)
    assert progress == [(1, 11), (5, 11)]
    with pytest.raises(Cancelled):
        defended_gradcam(model, x, result, copies=10, should_cancel=lambda: True)


def test_runs_inside_inference_mode_and_leaves_the_model_untouched(tiny_case) -> None:
    model, x, result = tiny_case
    layer = model.module.get_submodule(model.card.target_layer)
    with torch.inference_mode():
        x_inference = x.clone()
        cam = defended_gradcam(model, x_inference, result, copies=2)
    _assert_valid_map(cam, (32, 32))
    assert not layer._forward_hooks
    assert not any(p.requires_grad or p.grad is not None for p in model.module.parameters())
    assert not model.module.training


def test_bad_layer_class_or_copies_raise_one_line_errors(tiny_case) -> None:
    model, x, result = tiny_case
    with pytest.raises(ExplainError, match="no layer 'net.layer9'"):
        base_gradcam(model, x, target_layer="net.layer9")
    with pytest.raises(ExplainError, match="Unknown class 'pneumothorax'"):
        base_gradcam(model, x, "pneumothorax")
    with pytest.raises(ExplainError, match="out of range"):
        GradCAM(model.module, "net.layer4").raw(x, 7)
    with pytest.raises(ExplainError, match="at least one copy"):
        defended_gradcam(model, x, result, copies=0)
    with pytest.raises(ExplainError, match="target layer"):
        base_gradcam(model.module, x)  # a bare module has no card to name its layer


def test_maps_after_a_vote_on_the_torch_backend(tmp_path, cxr_png) -> None:
    """The torch backend sets the module's layout inside the engine's inference mode; Grad-CAM must still be able
    to differentiate through the same module afterwards (`medrdf predict --backend torch --report` once failed)."""
    from medrdf_gui.modelzoo import load_model
    from medrdf_gui.modelzoo.testing import write_untrained_model

    model = load_model(write_untrained_model(tmp_path, name="fresh", size=32))
    x = model.input_tensor(cxr_png)
    result = robust_predict(model, x, n=20, seed=3, device="cpu", backend="torch")
    maps = attention_maps(model, x, result, copies=2, size=(32, 32))
    _assert_valid_map(maps.base, (32, 32))
    _assert_valid_map(maps.defended, (32, 32))
