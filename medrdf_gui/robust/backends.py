"""How the vote's copies are classified: torch, ONNX Runtime or OpenVINO, in fp32 or bf16.

Why: on a CPU the n forward passes are nearly the whole cost of a diagnosis (noise, median and vote are a few
per cent), and torch's eager CPU kernels are not the fastest way to run a fixed ResNet. Measured on this project's
CPU (docs/performance.md, "CPU inference backends"), OpenVINO runs the default model (cxr3-resnet18) 1.6–2×
faster than torch in fp32 with logits equal to 1e-5, so "auto" picks it. bf16 (3.4–4.1× on cxr3 here, on a
CPU with native bf16 arithmetic: avx512_bf16 / AMX) is offered only on request: it kept every verdict on the 372
cxr3 test images, but changed 0.27 % of the per-copy labels (gate: 0.1 %), 2.3 % on the one borderline image,
whose RM it moved from 1.09 to 1.26 (scripts/check_backend_agreement.py).

Libraries: torch (always; the fallback and the reference), and optionally ``openvino`` or ``onnxruntime``, each
with ``onnx`` for torch's ONNX exporter. The model is exported once to ONNX and read by either runtime, so nothing
goes through OpenVINO's model converter (which sends usage telemetry). The export is cached in the user's cache
folder (``paths.cache_dir()/backends``, never the repository), keyed by the verified weights' sha256 and
everything else that shapes the graph; every compiled classifier is compared with torch on a probe batch before
use, so a stale or damaged cache file, or a miscompiled graph, falls back to torch instead of voting.

Only the vote goes through here. The base model's prediction on the clean image (one pass, reported as
probabilities), Grad-CAM and the attacks stay in torch fp32: the last two need gradients. Any backend that is
missing, fails to export or compile, or disagrees with torch is logged and replaced by torch fp32: a run never
fails for want of a faster library.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from .. import paths

log = logging.getLogger(__name__)

LABELS = {"torch": "torch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}
# What "auto" tries on a CPU, fastest first (measured: docs/performance.md).
AUTO_ORDER = ("openvino", "onnxruntime", "torch")
# The runtime each optional backend imports; exporting the model also needs onnx (torch.onnx.export writes its
# protobuf with it), which is imported only on a cache miss, the one time it is needed.
RUNTIMES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
ONNX_OPSET = 17
# Largest |Δlogit| on the probe batch, relative to max(1, max |logit|), before a compiled classifier is refused.
TOLERANCE = {"fp32": 1e-3, "bf16": 0.1}
_MEMORY_CACHE_SIZE = 4


class BackendError(RuntimeError):
    """A backend cannot be used here (library missing, export or compilation failed, wrong logits)."""


class Classifier:
    """Logits [B, K] (float32, on the input's device) of pixels [B, C, H, W] in [0, 1]."""

    backend = "torch"
    precision = "fp32"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def label(self) -> str:
        """``"OpenVINO bf16"``: shown with the device in results, the JSON and the report."""
        return f"{LABELS[self.backend]} {self.precision}"


class TorchClassifier(Classifier):
    """The module itself, in channels_last (faster CPU convolutions; no test-set prediction changes, see
    docs/performance.md); bf16 by autocast when asked for."""

    def __init__(self, module: nn.Module, precision: str = "fp32") -> None:
        # The engine builds its classifier inside inference mode; tensors the layout change made there would be
        # inference tensors, and Grad-CAM's backward pass through the same module would then fail.
        with torch.inference_mode(False):
            self.module = module.eval().to(memory_format=torch.channels_last)
        self.precision = precision

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.precision == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.module(x).float()
        return self.module(x)


class OnnxRuntimeClassifier(Classifier):
    backend = "onnxruntime"

    def __init__(self, onnx_path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # the same share of the CPU torch was given
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise here
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self._lock:
            return torch.from_numpy(self._session.run(None, {"pixels": _numpy(x)})[0])


class OpenVINOClassifier(Classifier):
    backend = "openvino"

    def __init__(self, onnx_path: Path, precision: str, threads: int) -> None:
        import openvino as ov

        core = ov.Core()
        self._compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", {
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",  # one stream: each batch uses every thread, as the vote needs
        })
        ran = runtime_precisions(self._compiled)
        wanted = {"fp32": "f32", "bf16": "bf16"}[precision]
        if wanted not in ran:  # a hint is only a hint: without native support OpenVINO silently keeps f32
            raise BackendError(f"OpenVINO ran its convolutions in {', '.join(sorted(ran)) or 'nothing'}, not {wanted}")
        self.precision = precision
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self._lock:
            return torch.from_numpy(self._compiled(_numpy(x))[0])


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


def runtime_precisions(compiled: Any) -> set[str]:
    """Precisions OpenVINO actually runs the convolutions and fully connected layers of a compiled model in."""
    found = set()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" in info and info["layerType"].astype(str) in ("Convolution", "FullyConnected"):
            found.add(info["runtimePrecision"].astype(str))
    return found


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: then no bf16 is assumed)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware; elsewhere bf16 is emulated and slower than fp32."""
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def installed(backend: str) -> bool:
    """Whether the libraries ``backend`` needs are installed (torch always is); imports nothing."""
    if backend not in RUNTIMES:
        return backend == "torch"
    return all(importlib.util.find_spec(name) is not None for name in (RUNTIMES[backend], "onnx"))


def _require(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise BackendError(f"{name} is not installed") from exc


def resolve_precision(precision: str) -> str:
    """The precision the vote will run in: bf16 only where asked for and the CPU has native bf16."""
    if precision == "fp32":
        return "fp32"
    if not native_bf16():
        log.warning("bf16 requested, but this CPU has no native bf16 (%s): emulated bf16 is slower than fp32, "
                    "so the vote runs in fp32", " or ".join(BF16_FLAGS))
        return "fp32"
    return "bf16"


def select_classifier(model: Any, device: torch.device, backend: str = "auto", precision: str = "fp32",
                      input_shape: tuple[int, ...] | None = None) -> Classifier:
    """The classifier the vote runs on: the requested backend, or under "auto" the fastest installed one.

    ``model`` is a :class:`~medrdf_gui.modelzoo.LoadedModel` or a bare module; ``input_shape`` is (C, H, W)
    (default: the card's). "auto" compiles only verified models (a card with a sha256): the compiled graph is
    cached under that hash, and a bare module's weights could change under it. Other backends run on the CPU
    only; on a GPU the vote stays in torch. Every failure falls back to torch fp32 with a logged reason.
    """
    module: nn.Module = getattr(model, "module", model)
    card = getattr(model, "card", None)
    if device.type != "cpu":
        if backend not in ("auto", "torch") or precision == "bf16":
            log.warning("%s %s runs on the CPU only; on %s the vote runs in torch fp32", backend, precision, device)
        return TorchClassifier(module)
    if backend == "torch":
        return TorchClassifier(module, resolve_precision(precision))
    if backend == "auto" and not getattr(card, "sha256", ""):
        return TorchClassifier(module)
    if input_shape is None:
        input_shape = (card.channels, *card.input_size)
    for name in AUTO_ORDER if backend == "auto" else (backend,):
        if name == "torch":
            break
        chosen = resolve_precision(precision)
        try:
            return _compiled(name, chosen, module, card, tuple(input_shape))
        except Exception as exc:  # noqa: BLE001 - any failure of an optional library means: use the next one
            level = logging.INFO if backend == "auto" and isinstance(exc.__cause__, ImportError) else logging.WARNING
            log.log(level, "%s %s is not used: %s", LABELS[name], chosen, exc)
    if backend != "auto":
        log.warning("the vote falls back to torch fp32")
    return TorchClassifier(module)


_memory: OrderedDict[tuple, Classifier] = OrderedDict()
_memory_lock = threading.Lock()


def _compiled(backend: str, precision: str, module: nn.Module, card: Any, shape: tuple[int, ...]) -> Classifier:
    """A checked classifier, from the in-process cache when this verified graph was compiled before."""
    _require(RUNTIMES[backend])
    threads = torch.get_num_threads()
    key = graph_key(card, shape) if getattr(card, "sha256", "") else None
    with _memory_lock:
        if key is not None and (key, backend, precision, threads) in _memory:
            _memory.move_to_end((key, backend, precision, threads))
            return _memory[(key, backend, precision, threads)]
    with _onnx_file(module, shape, key) as onnx_path:
        try:
            classifier = _build(backend, precision, onnx_path, threads)
            check_against_torch(classifier, module, shape)
        except Exception:
            if key is not None:  # a damaged or stale cache file is exported afresh next time
                onnx_path.unlink(missing_ok=True)
            raise
    if key is not None:
        with _memory_lock:
            _memory[(key, backend, precision, threads)] = classifier
            while len(_memory) > _MEMORY_CACHE_SIZE:
                _memory.popitem(last=False)
    return classifier


def _build(backend: str, precision: str, onnx_path: Path, threads: int) -> Classifier:
    if backend == "openvino":
        return OpenVINOClassifier(onnx_path, precision, threads)
    return OnnxRuntimeClassifier(onnx_path, threads)


def check_against_torch(classifier: Classifier, module: nn.Module, shape: tuple[int, ...]) -> float:
    """Largest |Δlogit| against torch fp32 on a fixed probe batch; BackendError beyond the precision's tolerance."""
    probe = torch.rand((4, *shape), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference = module(probe).float()
        logits = classifier(probe).float()
    if logits.shape != reference.shape:
        raise BackendError(f"logits of shape {tuple(logits.shape)}, torch gives {tuple(reference.shape)}")
    difference = float((logits - reference).abs().max())
    scale = max(1.0, float(reference.abs().max()))
    if not difference <= TOLERANCE[classifier.precision] * scale:
        raise BackendError(f"its logits differ from torch's by {difference:.3g} on the probe batch")
    return difference


def graph_key(card: Any, shape: tuple[int, ...]) -> str:
    """Hash of everything that shapes the exported graph: weights (by their verified sha256), architecture,
    normalisation, input shape and the exporter's version."""
    payload = {
        "sha256": card.sha256, "architecture": card.architecture, "arch_options": card.arch_options,
        "classes": len(card.classes), "mean": list(card.mean), "std": list(card.std), "shape": list(shape),
        "torch": torch.__version__, "opset": ONNX_OPSET,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_folder() -> Path:
    return paths.cache_dir() / "backends"


@contextlib.contextmanager
def _onnx_file(module: nn.Module, shape: tuple[int, ...], key: str | None) -> Iterator[Path]:
    """The model as ONNX: the cached file of a verified graph (exported on first use), else a temporary one."""
    if key is not None:
        target = cache_folder() / key / "model.onnx"
        try:
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".model.{os.getpid()}.{threading.get_ident()}.onnx")
                try:
                    export_onnx(module, shape, partial)
                    os.replace(partial, target)  # atomic: a concurrent run sees the whole file or none
                finally:
                    partial.unlink(missing_ok=True)
        except OSError as exc:
            log.info("backend cache %s not writable (%s); exporting to a temporary folder", target.parent, exc)
        else:
            yield target
            return
    with tempfile.TemporaryDirectory(prefix="medrdf-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        export_onnx(module, shape, path)
        yield path


def export_onnx(module: nn.Module, shape: tuple[int, ...], path: Path) -> None:
    """ONNX with a dynamic batch axis, input "pixels" in [0, 1] and output "logits".

    torch's TorchScript-based exporter: it needs only ``onnx``, where the newer dynamo exporter also needs
    ``onnxscript``; torch is pinned (pyproject.toml), so its deprecation warning is silenced here.
    """
    _require("onnx")
    example = torch.zeros((2, *shape))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=["pixels"],
                          output_names=["logits"], dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=ONNX_OPSET)
