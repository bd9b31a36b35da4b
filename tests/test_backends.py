"""The vote's classifier backends: selection, fallback to torch on every failure, logits agreement, bf16 only where
the CPU has it, the on-disk graph cache. Optional libraries that are not installed are skipped with a reason;
their absence is also simulated, so the fallback is tested wherever the suite runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

from medrdf_gui.robust import SettingsError, robust_predict
from medrdf_gui.robust import backends
from medrdf_gui.robust.backends import (BackendError, Classifier, TorchClassifier, installed, resolve_precision,
                                        select_classifier)
from medrdf_gui.robust.settings import RobustSettings

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh_backend_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test compiles afresh, into its own cache folder."""
    monkeypatch.setattr(backends, "_memory", type(backends._memory)())
    monkeypatch.setenv("MEDRDF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Simulate libraries that are not installed: importing them raises ImportError."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _pixels(model, count: int = 8) -> torch.Tensor:
    c, (h, w) = model.card.channels, model.card.input_size
    return torch.rand((count, c, h, w), generator=torch.Generator().manual_seed(1))


def test_auto_uses_torch_when_no_optional_library_is_installed(monkeypatch, caplog, tiny_model, cxr_png) -> None:
    _without(monkeypatch, "openvino", "onnxruntime")
    with caplog.at_level(logging.INFO, logger=backends.__name__):
        classifier = select_classifier(tiny_model, CPU)
    assert isinstance(classifier, TorchClassifier) and classifier.label == "torch fp32"
    assert "openvino is not installed" in caplog.text and "onnxruntime is not installed" in caplog.text
    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=40, seed=0, device="cpu")
    assert "torch fp32" in result.device
    assert (result.settings["backend"], result.settings["precision"]) == ("torch", "fp32")


def test_a_requested_backend_that_is_missing_falls_back_with_a_warning(monkeypatch, caplog, tiny_model) -> None:
    _without(monkeypatch, "openvino")
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        classifier = select_classifier(tiny_model, CPU, "openvino", "fp32")
    assert classifier.label == "torch fp32"
    assert "OpenVINO fp32 is not used: openvino is not installed" in caplog.text and "falls back" in caplog.text


def test_a_failing_compile_falls_back_to_torch(monkeypatch, caplog, tiny_model, cxr_png) -> None:
    def fail(*_args: object) -> Classifier:
        raise RuntimeError("compilation failed (injected)")

    monkeypatch.setattr(backends, "_require", lambda name: None)
    monkeypatch.setattr(backends, "export_onnx", lambda module, shape, path: path.write_bytes(b"graph"))
    monkeypatch.setattr(backends, "_build", fail)
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=40, seed=0, device="cpu",
                                backend="openvino", precision="fp32")
    assert "compilation failed (injected)" in caplog.text
    assert "torch fp32" in result.device and sum(result.counts.values()) == 40


def test_wrong_logits_are_refused_and_their_cached_graph_removed(monkeypatch, caplog, tiny_model,
                                                                 fresh_backend_cache: Path) -> None:
    class Wrong(Classifier):
        backend = "openvino"

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 3)

    monkeypatch.setattr(backends, "_require", lambda name: None)
    monkeypatch.setattr(backends, "export_onnx", lambda module, shape, path: path.write_bytes(b"graph"))
    monkeypatch.setattr(backends, "_build", lambda *_args: Wrong())
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        classifier = select_classifier(tiny_model, CPU, "openvino", "fp32")
    assert classifier.label == "torch fp32" and "differ from torch's" in caplog.text
    assert not list(fresh_backend_cache.rglob("model.onnx"))  # exported afresh next time


def test_bf16_is_not_chosen_without_native_support(monkeypatch, caplog, tiny_model) -> None:
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"avx2", "avx512f", "fma"})
    assert not backends.native_bf16()
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        assert resolve_precision("bf16") == "fp32"  # asked for, but emulated bf16 is slower than fp32: refused
        assert select_classifier(tiny_model, CPU, "torch", "bf16").label == "torch fp32"
    assert "no native bf16" in caplog.text
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert resolve_precision("bf16") == "bf16" and resolve_precision("fp32") == "fp32"
    assert select_classifier(tiny_model, CPU, "torch", "bf16").label == "torch bf16"


def test_auto_never_picks_bf16_even_where_the_cpu_has_it(monkeypatch, tiny_model) -> None:
    """bf16 failed the per-copy agreement gate on cxr3 (docs/performance.md): "auto" stays exact."""
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"avx512_bf16", "amx_bf16"})
    assert select_classifier(tiny_model, CPU).precision == "fp32"
    assert RobustSettings().precision == "fp32"


def test_bare_modules_and_other_devices_stay_in_torch(caplog, tiny_model) -> None:
    assert select_classifier(tiny_model.module, CPU).label == "torch fp32"  # no verified weights to key a cache
    with caplog.at_level(logging.WARNING, logger=backends.__name__):
        on_gpu = select_classifier(tiny_model, torch.device("cuda"), "openvino", "bf16")
    assert on_gpu.label == "torch fp32" and "CPU only" in caplog.text


def test_onnx_runtime_has_no_bf16_setting() -> None:
    with pytest.raises(SettingsError, match="fp32 only"):
        RobustSettings(backend="onnxruntime", precision="bf16").validate()
    with pytest.raises(SettingsError, match="Unknown backend"):
        RobustSettings(backend="tensorrt").validate()


@pytest.mark.parametrize("backend,precision,tolerance", [
    ("torch", "bf16", 0.05), ("onnxruntime", "fp32", 1e-4), ("openvino", "fp32", 1e-4), ("openvino", "bf16", 0.05),
])
def test_each_installed_backend_gives_torch_logits(tiny_model, backend: str, precision: str, tolerance: float) -> None:
    if not installed(backend):
        pytest.skip(f"{backend} (and onnx) not installed")
    if precision == "bf16" and not backends.native_bf16():
        pytest.skip("this CPU has no native bf16")
    classifier = select_classifier(tiny_model, CPU, backend, precision)
    assert (classifier.backend, classifier.precision) == (backend, precision)
    x = _pixels(tiny_model)
    with torch.inference_mode():
        expected, got = tiny_model.module(x), classifier(x)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert float((got - expected).abs().max()) <= tolerance * max(1.0, float(expected.abs().max()))


def test_a_compiled_graph_is_cached_on_disk_and_in_memory(tiny_model, fresh_backend_cache: Path) -> None:
    backend = next((b for b in ("openvino", "onnxruntime") if installed(b)), None)
    if backend is None:
        pytest.skip("neither openvino nor onnxruntime installed")
    first = select_classifier(tiny_model, CPU, backend, "fp32")
    assert first.backend == backend
    files = list(fresh_backend_cache.rglob("model.onnx"))
    assert len(files) == 1 and backends.graph_key(tiny_model.card, (1, 32, 32)) in str(files[0])
    assert select_classifier(tiny_model, CPU, backend, "fp32") is first
    backends._memory.clear()  # a new process: reads the cached graph, exports nothing
    mtime = files[0].stat().st_mtime_ns
    assert select_classifier(tiny_model, CPU, backend, "fp32") is not first
    assert files[0].stat().st_mtime_ns == mtime


def test_an_unwritable_cache_exports_to_a_temporary_folder(monkeypatch, tiny_model, tmp_path: Path) -> None:
    backend = next((b for b in ("openvino", "onnxruntime") if installed(b)), None)
    if backend is None:
        pytest.skip("neither openvino nor onnxruntime installed")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("MEDRDF_CACHE_DIR", str(blocker))
    assert select_classifier(tiny_model, CPU, backend, "fp32").backend == backend


def test_the_result_names_the_backend_that_ran(tiny_model, cxr_png) -> None:
    result = robust_predict(tiny_model, tiny_model.input_tensor(cxr_png), n=40, seed=0, device="cpu",
                            backend="torch", precision="fp32")
    assert result.device.startswith("cpu (torch fp32, ")


def test_check_against_torch_reports_the_difference(tiny_model) -> None:
    shape = (1, 32, 32)
    assert backends.check_against_torch(TorchClassifier(tiny_model.module), tiny_model.module, shape) == 0.0

    class Shifted(Classifier):
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return tiny_model.module(x) + 1.0

    with pytest.raises(BackendError, match="differ"):
        backends.check_against_torch(Shifted(), tiny_model.module, shape)
