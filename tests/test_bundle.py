"""Build the PyInstaller bundles and run their ``--self-test`` (slow: 10–30 minutes, ~5 GB of disk).

Run them with ``.venv/bin/python -m pytest -m slow tests/test_bundle.py`` after ``pip install -e .[bundle]``
(docs/packaging.md). The bundles go to temporary folders, not ``dist/``, so they never replace a bundle a
developer is about to hand over; PyInstaller's work files go to ``build/test-bundle`` and ``build/test-bundle-cpu``
(git-ignored). The CPU bundle is built by ``scripts/build_cpu_bundle.sh`` (what ``make bundle-cpu`` runs), in its
own venv ``.venv-cpu/`` (created on first use: a few minutes).

What they prove that the fast tests cannot: the frozen app finds its resources, its models, pydicom's decoders,
the pylibjpeg plugins (entry points in bundled metadata), gdcm, torch and (CPU bundle) OpenVINO — with nothing
from the venv on its path. The fast tests here pin the CPU build environment's requirement list.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medrdf_gui.modelzoo.testing import write_untrained_model

REPO = Path(__file__).resolve().parent.parent
NAME = "medrdf-viewer"
CPU_NAME = "medrdf-viewer-cpu"
GIB = 1 << 30


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: no venv, no PYTHONPATH, no model-folder override, no Qt platform."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MEDRDF_MODELS_DIR", "QT_QPA_PLATFORM")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    pyinstaller = shutil.which("pyinstaller", path=str(Path(sys.executable).parent))
    if pyinstaller is None:
        pytest.fail("PyInstaller is not installed: pip install -e .[bundle]")
    dist = tmp_path_factory.mktemp("bundle-dist")
    command = ["nice", "-n", "19", pyinstaller, "--noconfirm", "--log-level", "WARN", "--distpath", str(dist),
               "--workpath", str(REPO / "build" / "test-bundle"), str(REPO / "build_app.spec")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3 * 3600)
    assert done.returncode == 0, done.stderr[-5000:]
    executable = dist / NAME / NAME
    assert executable.is_file()
    yield executable
    shutil.rmtree(dist, ignore_errors=True)  # several GB: do not leave it to pytest's tmp retention


def _self_test(executable: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**_clean_env(), **env_extra}
    return subprocess.run([str(executable), "--self-test"], capture_output=True, text=True, env=env,
                          cwd=executable.parent.parent, timeout=900)


@pytest.mark.slow
def test_bundle_self_test(bundle: Path, tmp_path: Path) -> None:
    shipped = sorted((REPO / "models").glob("*.json"))
    done = _self_test(bundle)
    print(done.stdout)  # shown with -s, and kept in the report on failure
    lines = done.stdout.splitlines()
    assert lines and lines[0].startswith("MedRDF Viewer ") and "bundle" in lines[0]
    if shipped:
        assert done.returncode == 0, done.stdout + done.stderr
        assert all(line.startswith("PASS ") for line in lines[1:-1])
        return
    # No model trained yet: the bundle must say so (never fake one), and every other check must pass ...
    assert done.returncode != 0
    assert any(line.startswith("FAIL model: no shipped model") for line in lines)
    assert [line for line in lines[1:-1] if line.startswith("FAIL") and not line.startswith(("FAIL model:",
                                                                                            "FAIL predict:"))] == []
    # ... and with an untrained, clearly labelled model of the shipped architecture (ResNet-18 needs torchvision's
    # operator library, which PyInstaller misses unless the spec adds it) the whole self-test passes.
    write_untrained_model(tmp_path / "models", name="untrained-resnet18", architecture="resnet18", channels=1,
                          size=64)
    done = _self_test(bundle, MEDRDF_MODELS_DIR=str(tmp_path / "models"))
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(line.startswith("PASS ") for line in done.stdout.splitlines()[1:-1])


@pytest.mark.slow
def test_bundle_version_without_display(bundle: Path) -> None:
    env = _clean_env()
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MedRDF Viewer ")


# ---- the CPU bundle ---------------------------------------------------------------------------------------------

def _cpu_requirements():
    """scripts/cpu_requirements.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("cpu_requirements", REPO / "scripts" / "cpu_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_requirements_are_pyprojects_without_torch_and_torchvision() -> None:
    module = _cpu_requirements()
    listed = module.requirements()
    project = module.tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["bundle"]
    removed = [r for r in declared if r not in listed]
    assert len(removed) == 2 and all(r.startswith(("torch==", "torchvision==")) for r in removed), removed
    assert listed == [r for r in dict.fromkeys(declared) if r not in removed]  # the rest verbatim, in order
    names = {module.requirement_name(r) for r in listed}
    assert {"torch", "torchvision"}.isdisjoint(names)
    assert {"openvino", "onnx", "pyinstaller"} <= names  # the fast backend and the bundler come along


def test_cpu_requirement_filter_matches_names_not_prefixes(tmp_path: Path) -> None:
    module = _cpu_requirements()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("""
[project]
name = "x"
dependencies = [
    "torch==2.14.1",
    "TorchVision >= 0.20 ; platform_system != 'Emscripten'",
    "torchmetrics>=1.0",
    "torch_geometric",
    "numpy>=1.26",
    "PySide6_Essentials>=6.6,!=6.12.0",
]
[project.optional-dependencies]
bundle = ["pyinstaller>=6.11,<7", "numpy>=1.26"]
dev = ["pytest"]
""", encoding="utf-8")
    assert module.requirements(pyproject) == ["torchmetrics>=1.0", "torch_geometric", "numpy>=1.26",
                                              "PySide6_Essentials>=6.6,!=6.12.0", "pyinstaller>=6.11,<7"]
    assert module.requirements(pyproject, extras=(), drop=("pyside6-essentials", "torch")) == [
        "TorchVision >= 0.20 ; platform_system != 'Emscripten'", "torchmetrics>=1.0", "torch_geometric",
        "numpy>=1.26"]
    with pytest.raises(SystemExit, match="no extra 'gpu'"):
        module.requirements(pyproject, extras=("gpu",))


def test_fast_backend_check_fails_in_one_line_where_openvino_cannot_run(tmp_path: Path, monkeypatch) -> None:
    """What the first CPU build would have shown (it lacked OpenVINO's CPU plugin): predict passes on torch, and
    the self-test's fast-backend check FAILs with OpenVINO's reason on one line."""
    pytest.importorskip("openvino")
    from collections import OrderedDict

    from medrdf_gui import selftest
    from medrdf_gui.modelzoo import load_model
    from medrdf_gui.robust import backends

    card = write_untrained_model(tmp_path / "models", size=32)
    state = selftest._ModelState(loaded=[load_model(card, device="cpu")])

    def without_cpu_plugin(*args, **kwargs):  # OpenVINO's words when libopenvino_intel_cpu_plugin.so is missing
        raise RuntimeError("Exception from src/inference/src/cpp/core.cpp:117:\nException from src/inference/src/"
                           "dev/core_impl.cpp:706:\nDevice with \"CPU\" name is not registered in the OpenVINO Runtime\n")

    monkeypatch.setattr(backends, "_build", without_cpu_plugin)
    monkeypatch.setattr(backends, "_memory", OrderedDict())  # nothing compiled earlier in this process
    check = selftest._run("fast-backend", lambda: selftest.check_fast_backend(state, 12, tmp_path))
    assert not check.ok
    assert check.detail == ('OpenVINO cannot run tiny-untrained: OpenVINO fp32 is not used: Device with "CPU" name is '
                            'not registered in the OpenVINO Runtime; the vote falls back to torch fp32')
    assert "\n" not in check.line()
    assert selftest._run("predict", lambda: selftest.check_prediction(state, 12, tmp_path)).ok  # torch votes


@pytest.fixture(scope="module")
def cpu_bundle(tmp_path_factory: pytest.TempPathFactory):
    """The CPU bundle as ``make bundle-cpu`` builds it (same script), into a temporary folder."""
    dist = tmp_path_factory.mktemp("bundle-cpu-dist")
    env = {**os.environ, "DISTPATH": str(dist), "WORKPATH": str(REPO / "build" / "test-bundle-cpu"),
           "SELF_TEST": "0", "NICE": "19"}
    done = subprocess.run([str(REPO / "scripts" / "build_cpu_bundle.sh")], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=3 * 3600)
    assert done.returncode == 0, done.stderr[-5000:]
    executable = dist / CPU_NAME / CPU_NAME
    assert executable.is_file()
    yield executable
    shutil.rmtree(dist, ignore_errors=True)


@pytest.mark.slow
def test_cpu_bundle_self_test_votes_on_openvino(cpu_bundle: Path) -> None:
    done = _self_test(cpu_bundle)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith("PASS ") for line in lines[1:-1])
    assert any(line.startswith("PASS fast-backend: OpenVINO") and "exported to ONNX and compiled in this run" in line
               for line in lines)
    assert any(line.startswith("PASS device:") and "CPU-only build" in line for line in lines)


@pytest.mark.slow
def test_cpu_bundle_holds_no_cuda_nor_torchvision_and_fits_the_target(cpu_bundle: Path) -> None:
    internal = cpu_bundle.parent / "_internal"
    assert not (internal / "torchvision").exists() and not (internal / "nvidia").exists()
    cuda = [p.name for p in internal.rglob("*.so*") if p.name.startswith(("libcudnn", "libcublas", "libnccl",
                                                                           "libtorch_cuda", "libc10_cuda"))]
    assert cuda == []
    size = sum(p.lstat().st_size for p in cpu_bundle.parent.rglob("*") if p.is_file() and not p.is_symlink())
    assert size <= 1.0 * GIB, f"{size / GIB:.2f} GiB"
    env = _clean_env()
    env.pop("DISPLAY", None)
    done = subprocess.run([str(cpu_bundle), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("MedRDF Viewer "), done.stderr
