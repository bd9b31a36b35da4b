"""Choosing the compute device: CUDA when present (first GPU or a named one), else CPU; explicit override."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from .errors import EngineError


def available_devices() -> list[str]:
    """``cpu`` plus every CUDA device visible to torch, as strings a user can pick."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return names


def resolve_device(request: str | torch.device | None = "auto") -> torch.device:
    text = str(request or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise EngineError(f"'{request}' is not a device name (use auto, cpu, cuda or cuda:N).") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineError(f"CUDA device '{request}' requested, but no CUDA GPU is available; use cpu or auto.")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise EngineError(f"CUDA device '{request}' does not exist ({torch.cuda.device_count()} GPU(s) found).")
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise EngineError(f"Device type '{device.type}' is not supported; use cpu or cuda.")
    return device


def describe_device(device: torch.device, backend: str | None = None) -> str:
    """``"cuda:0 (NVIDIA H200)"`` or ``"cpu (OpenVINO bf16, 2 threads)"``: on a CPU, ``backend`` (the vote's
    classifier, robust/backends.py) is named, since it decides the speed and the exact arithmetic."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({f'{backend}, ' if backend else ''}{threads} thread{'s' if threads != 1 else ''})"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform``'s guess where there is none): what speeds and training
    hours are quoted with."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
