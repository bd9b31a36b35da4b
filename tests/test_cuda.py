"""The CUDA path gives what the CPU path gives: the same denoised pixels, the same verdicts, attacks within budget.

Skipped where no GPU is present (CI); run on a lent GPU with ``python -m pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from medrdf_gui.attacks import cw_linf, eot_pgd, parse_attacks, pgd
from medrdf_gui.robust import GaussianSmoothing, MedianFilter, SaltPepperNoise, robust_predict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
EPS = 8 / 255


def _pixels(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("denoiser", [MedianFilter(3), MedianFilter(5), GaussianSmoothing(1.0)], ids=str)
def test_denoisers_agree_with_the_cpu(denoiser) -> None:
    x = _pixels((4, 3, 64, 48), 0)
    assert torch.allclose(denoiser(x.cuda()).cpu(), denoiser(x), atol=1e-6)


def test_salt_and_pepper_on_the_gpu_replaces_a_fraction_sigma() -> None:
    """Replaced fraction ~ Binomial(N, σ)/N: within 5 standard deviations of σ."""
    x = torch.full((8, 1, 224, 224), 0.5, device="cuda")
    noisy = SaltPepperNoise(0.1)(x, torch.Generator(device="cuda").manual_seed(0))
    n = x.numel()
    replaced = float((noisy != 0.5).float().mean())
    assert abs(replaced - 0.1) < 5 * np.sqrt(0.1 * 0.9 / n)
    assert noisy.device.type == "cuda"


def test_shipped_model_gives_the_cpu_verdict_on_the_gpu(cxr_png: Path) -> None:
    from medrdf_gui import load_model

    cpu_model, gpu_model = load_model("cxr3-resnet18", device="cpu"), load_model("cxr3-resnet18", device="cuda")
    x = cpu_model.input_tensor(cxr_png)
    cpu = robust_predict(cpu_model, x, n=1000, batch_size=500, seed=0, device="cpu")
    gpu = robust_predict(gpu_model, x, n=1000, batch_size=500, seed=0, device="cuda")
    assert gpu.device.startswith("cuda") and gpu.n_used == 1000
    assert (gpu.label, gpu.verdict, gpu.base_label) == (cpu.label, cpu.verdict, cpu.base_label)
    assert abs(gpu.rm - cpu.rm) < 0.3  # different random streams; both RMs lie within ±0.15 of the truth w.h.p.


def test_attacks_on_the_gpu_keep_their_budget(tiny_model) -> None:
    module = copy.deepcopy(tiny_model.module).cuda()  # the session fixture stays on the CPU
    x = _pixels((4, 1, 32, 32), 1).cuda()
    y = torch.tensor([0, 1, 2, 0], device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    for adv in (pgd(module, x, y, EPS, 7, gen), cw_linf(module, x, y, EPS, 10, gen),
                eot_pgd(module, x, y, EPS, SaltPepperNoise(0.1), MedianFilter(3), steps=5, draws=4, generator=gen,
                        bpda="smooth")):
        assert adv.device.type == "cuda"
        assert float((adv - x).abs().max()) <= EPS + 1e-6 and 0.0 <= float(adv.min()) and float(adv.max()) <= 1.0


def test_evaluation_runs_batched_on_the_gpu(tmp_path: Path, tiny_model_card: Path, data_dir: Path) -> None:
    from medrdf_gui.attacks.evaluate import Defence, Evaluation
    from medrdf_gui.modelzoo import load_model
    from medrdf_gui.robust import RobustSettings

    model = load_model(tiny_model_card, device="cuda")
    ev = Evaluation(model, data_dir / "cxr3" / "test", parse_attacks("pgd7,eot-pgd-smooth"),
                    [Defence("salt-pepper", "median")], RobustSettings(n=50, batch_size=50, device="cuda"), EPS,
                    tmp_path, limit=3, seed=0)
    ev.run(attack_batch=2)
    # 3 images × (natural and pgd7: base + MedRDF; adaptive: MedRDF only)
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 15
