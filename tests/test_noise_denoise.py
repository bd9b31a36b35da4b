"""Noise statistics within binomial/normal bounds (fixed seeds, 5-sigma tolerances) and denoisers equal to scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from medrdf_gui.robust import (GaussianNoise, GaussianSmoothing, MedianFilter, PoissonNoise, RandomResizePad,
                               RandomRotation,
                               SaltPepperNoise, symmetric_pad)

N = 1_000_000  # elements per statistical check


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _half_grey() -> torch.Tensor:
    return torch.full((4, 1, 500, 500), 0.5)


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.3])
def test_salt_and_pepper_fractions_are_binomial(sigma: float) -> None:
    out = SaltPepperNoise(sigma)(_half_grey(), _gen())
    assert set(torch.unique(out).tolist()) <= {0.0, 0.5, 1.0}
    for value in (0.0, 1.0):
        k = int((out == value).sum())
        p = sigma / 2
        assert abs(k - N * p) <= 5 * math.sqrt(N * p * (1 - p)), (value, k)


def test_salt_and_pepper_reads_one_uniform_draw_per_element_as_documented() -> None:
    """A seed's copies stay the copies recorded runs were made with: pepper below σ/2, salt in [σ/2, σ)."""
    x = torch.rand(3, 1, 40, 40, generator=_gen(1))
    u = torch.rand(x.shape, generator=_gen(7))
    expected = torch.where(u < 0.05, torch.zeros_like(x), torch.where(u < 0.1, torch.ones_like(x), x))
    assert torch.equal(SaltPepperNoise(0.1)(x, _gen(7)), expected)
    batch = x[:1].expand(5, -1, -1, -1)  # the engine's expanded view of one image
    assert torch.equal(SaltPepperNoise(0.1)(batch, _gen(3)), SaltPepperNoise(0.1)(batch.contiguous(), _gen(3)))


def test_gaussian_noise_mean_and_variance() -> None:
    sigma = 0.1
    delta = (GaussianNoise(sigma)(_half_grey(), _gen()) - 0.5).double()
    assert abs(float(delta.mean())) <= 5 * sigma / math.sqrt(N)
    # Var of the sample variance of normals: 2σ⁴/(N−1); clipping at 5σ changes nothing measurable.
    assert abs(float(delta.var()) - sigma**2) <= 5 * math.sqrt(2 * sigma**4 / N)


def test_poisson_noise_is_unbiased_with_variance_sigma2_x() -> None:
    sigma, x = 0.1, 0.5
    out = PoissonNoise(sigma)(_half_grey(), _gen()).double()
    var = sigma**2 * x
    assert abs(float(out.mean()) - x) <= 5 * math.sqrt(var / N)
    assert abs(float(out.var()) - var) <= 0.02 * var
    assert torch.equal(PoissonNoise(0.0)(_half_grey(), _gen()), _half_grey())


@pytest.mark.parametrize("noise", [GaussianNoise(0.5), SaltPepperNoise(0.5), PoissonNoise(0.5), RandomResizePad(0.5),
                                   RandomRotation(0.5)])
def test_noises_clip_to_unit_range_and_keep_shape(noise) -> None:
    x = torch.rand(3, 3, 20, 30, generator=_gen(1))
    out = noise(x, _gen(2))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_same_generator_seed_gives_same_noise() -> None:
    x = torch.rand(2, 1, 16, 16, generator=_gen(3))
    for noise in (GaussianNoise(0.1), SaltPepperNoise(0.1), PoissonNoise(0.1), RandomResizePad(0.1),
                  RandomRotation(0.1)):
        assert torch.equal(noise(x, _gen(7)), noise(x, _gen(7)))


def test_random_resize_pad_shrinks_within_sigma_and_pads_black() -> None:
    """Xie et al.'s Random R-P: each copy is the whole image shrunk to a side in [⌈(1 − σ)S⌉, S], placed somewhere
    on a black canvas. A white image shows the placed square exactly; every side and offset in range occurs."""
    x = torch.ones(400, 1, 40, 40)
    out = RandomResizePad(0.25)(x, _gen(4))
    sides, tops = set(), set()
    for copy in out[:, 0]:
        rows, cols = torch.nonzero(copy > 0.5, as_tuple=True)
        side = int(rows.max() - rows.min() + 1)
        assert side == int(cols.max() - cols.min() + 1)  # aspect kept
        assert int((copy > 0.5).sum()) == side * side and bool((copy[copy <= 0.5] == 0).all())
        sides.add(side)
        tops.add(int(rows.min()))
    assert sides == set(range(30, 41))  # ⌈0.75 · 40⌉ … 40, each drawn
    assert tops == set(range(0, 11))  # offsets up to 40 − 30
    assert torch.equal(RandomResizePad(0.0)(x[:2], _gen(1)), x[:2])  # σ = 0: the image itself


def test_random_resize_pad_is_differentiable_for_an_attacker() -> None:
    x = torch.rand(4, 3, 28, 28, generator=_gen(5), requires_grad=True)
    RandomResizePad(0.2)(x, _gen(6)).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("pad", [1, 2, 5, 12])
def test_symmetric_pad_equals_numpy_symmetric(pad: int) -> None:
    x = np.random.default_rng(0).random((2, 1, 7, 9)).astype(np.float32)
    ref = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    assert np.array_equal(symmetric_pad(torch.from_numpy(x), pad).numpy(), ref)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("shape", [(2, 1, 31, 17), (1, 3, 8, 8)])
def test_median_filter_equals_scipy(size: int, shape: tuple) -> None:
    x = np.random.default_rng(size).random(shape).astype(np.float32)
    # salt-and-pepper input, the case the paper filters
    x[x < 0.1] = 0.0
    x[x > 0.9] = 1.0
    ref = ndimage.median_filter(x, size=(1, 1, size, size), mode="reflect")
    assert np.array_equal(MedianFilter(size)(torch.from_numpy(x)).numpy(), ref)


@pytest.mark.parametrize("levels", [2, 3, 256])
@pytest.mark.parametrize("shape", [(4, 1, 1, 5), (4, 1, 2, 2), (3, 2, 3, 1), (8, 1, 19, 23)])
def test_3x3_median_equals_scipy_with_ties_and_tiny_images(levels: int, shape: tuple) -> None:
    """The column-sort 3×3 median on the inputs most likely to break it: many equal values, images 1–3 px wide."""
    x = (np.random.default_rng(levels).integers(0, levels, shape) / (levels - 1)).astype(np.float32)
    ref = ndimage.median_filter(x, size=(1, 1, 3, 3), mode="reflect")
    assert np.array_equal(MedianFilter(3)(torch.from_numpy(x)).numpy(), ref)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 3.0])
def test_gaussian_smoothing_equals_scipy(sigma: float) -> None:
    x = np.random.default_rng(0).random((2, 3, 40, 25)).astype(np.float32)
    ref = ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="reflect", truncate=4.0)
    assert np.allclose(GaussianSmoothing(sigma)(torch.from_numpy(x)).numpy(), ref, atol=1e-6)


def test_median_rejects_even_windows() -> None:
    with pytest.raises(ValueError):
        MedianFilter(4)


def test_random_rotation_turns_by_the_papers_angles() -> None:
    """σ = 0.1: angles in [10°, 100°] (TABLE X). A bright bar along +x ends up at the drawn angle."""
    x = torch.zeros(300, 1, 65, 65)
    x[:, :, 31:34, 33:63] = 1.0  # a bar from the centre to the right edge
    out = RandomRotation(0.1)(x, _gen(8))
    ys, xs = torch.meshgrid(torch.arange(65.0) - 32, torch.arange(65.0) - 32, indexing="ij")
    w = out[:, 0]
    cx, cy = (w * xs).sum((1, 2)) / w.sum((1, 2)), (w * ys).sum((1, 2)) / w.sum((1, 2))
    # image rows grow downwards, so a counter-clockwise turn of the sampling grid shows as a clockwise one here
    angles = torch.rad2deg(torch.atan2(cy, cx)).abs()
    assert float(angles.min()) >= 9.0 and float(angles.max()) <= 101.0
    assert float(angles.min()) <= 15.0 and float(angles.max()) >= 95.0  # the whole range is drawn


def test_median_of_a_tensor_an_attacker_differentiates_runs_and_bpda_passes_the_gradient() -> None:
    from medrdf_gui.attacks.adaptive import mean_filter, straight_through

    x = torch.rand(2, 1, 9, 9, generator=_gen(8), requires_grad=True)
    out = straight_through(MedianFilter(3), x, mean_filter(3))
    assert torch.equal(out.detach(), MedianFilter(3)(x.detach()))
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
