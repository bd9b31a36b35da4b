"""``medrdf-viewer --self-test``: a headless check that an installed bundle (or a dev checkout) can do its job.

Why it exists: a hospital IT department installs the desktop bundle on machines nobody on the project can see.
A PyInstaller bundle fails in ways a source checkout never does — a decoder plugin whose entry point was lost, a
model file left out, a CUDA library missing — and such failures otherwise surface only when a radiologist opens
an image. This module exercises every such part on non-patient data it makes itself, prints one line per check
(``PASS …`` / ``FAIL …``) and returns 0 only when all passed, so it can run in an install script or a monitoring
job.

No Qt is imported here (the check must run on a server without a display); the Qt platform plugins are checked
as files. Nothing is faked: with no shipped model the model check FAILS ("no shipped model").
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import re
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from . import paths
from ._version import __version__

#: Copies drawn by the robust-prediction check: enough for the binomial test at α = 0.001 (n ≥ 11) and for a
#: real batch loop, small enough for a few seconds on a CPU with ResNet-18.
DEFAULT_COPIES = 32
SEED = 20_250_101  # fixed, so that two runs must give identical votes (checked)

# Decoders the viewer relies on, by transfer syntax: (pydicom plugin name, what it needs in the bundle).
RLE_DECODERS = (("pylibjpeg", "pylibjpeg-rle via entry points"), ("pydicom", "pydicom's native RLE"))
J2K_DECODERS = (("pylibjpeg", "pylibjpeg-openjpeg via entry points"), ("gdcm", "python-gdcm"),
                ("pillow", "Pillow's OpenJPEG"))
JPEG_DECODERS = (("gdcm", "python-gdcm"), ("pillow", "Pillow's libjpeg"))


@dataclass
class Check:
    """The outcome of one check; ``line()`` is what is printed."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail} ({self.seconds:.1f} s)"


class CheckFailed(Exception):
    """Raised inside a check with the one sentence the FAIL line should carry."""


def _run(name: str, body: Callable[[], str]) -> Check:
    """Run one check; any exception becomes a FAIL line (with a traceback on stderr when MEDRDF_DEBUG is set)."""
    started = time.perf_counter()
    try:
        detail = body()
        ok = True
    except CheckFailed as exc:
        ok, detail = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a self-test reports every failure instead of dying on the first
        ok, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"
        if os.environ.get("MEDRDF_DEBUG"):
            traceback.print_exc()
    return Check(name, ok, detail, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------------------
# Synthetic, non-patient test data
# --------------------------------------------------------------------------------------------------------------

def synthetic_pattern(size: int = 128, bits: int = 12) -> np.ndarray:
    """A deterministic grey test pattern (gradient, rings, bars, checkerboard) as ``uint16`` with ``bits`` bits.

    Synthetic on purpose: a self-test must never carry patient data, and a structured pattern (not noise)
    compresses like an image and exposes a decoder that swaps bytes, rows or planes.
    """
    top = (1 << bits) - 1
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    image = 0.55 * x + 0.15 * y  # gradient
    r = np.hypot(x - 0.5, y - 0.5)
    image += 0.2 * (np.sin(2 * np.pi * 8 * r) > 0)  # rings
    image[: size // 8, :] = (np.arange(size) // max(1, size // 16) % 2)[None, :]  # bars along the top
    block = max(1, size // 16)
    checker = ((np.arange(size)[:, None] // block + np.arange(size)[None, :] // block) % 2).astype(np.float64)
    corner = slice(size - size // 4, size)
    image[corner, corner] = checker[corner, corner]
    return np.clip(np.round(image / image.max() * top), 0, top).astype(np.uint16)


def _dicom_dataset(pixels: np.ndarray, bits: int) -> "object":
    """A minimal, valid CR chest dataset (Explicit VR Little Endian) around ``pixels``; identifiers are synthetic."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "SELFTEST^PATTERN"
    ds.PatientID = "SELFTEST"
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds


def _roundtrip(ds: "object") -> "object":
    """Write and re-read the dataset in memory: the decoders then see exactly what a file on disk gives them."""
    import pydicom

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def encoded_dicoms(size: int = 64) -> dict[str, tuple["object", np.ndarray, int]]:
    """In-memory DICOM files of the test pattern: RLE Lossless, JPEG 2000 Lossless and JPEG Baseline.

    Values are (dataset read back from bytes, the pixels a decoder must return, largest allowed difference).
    RLE comes from pydicom's own encoder and JPEG 2000 from pylibjpeg-openjpeg's; JPEG Baseline is Pillow's
    JPEG, encapsulated by pydicom (no DICOM encoder exists for it), and is compared with Pillow's decoding of the
    same bytes, within a few grey levels since JPEG decoders may round differently.
    """
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

    pattern12 = synthetic_pattern(size, bits=12)
    out: dict[str, tuple[object, np.ndarray, int]] = {}

    rle = _dicom_dataset(pattern12, 12)
    rle.compress(RLELossless, encoding_plugin="pydicom")  # type: ignore[attr-defined]
    out["RLE Lossless"] = (_roundtrip(rle), pattern12, 0)

    j2k = _dicom_dataset(pattern12, 12)
    try:
        j2k.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - reported by the caller as a missing openjpeg encoder
        raise CheckFailed(f"cannot encode JPEG 2000 with pylibjpeg-openjpeg ({type(exc).__name__}: {exc})") from exc
    out["JPEG 2000 Lossless"] = (_roundtrip(j2k), pattern12, 0)

    pattern8 = (pattern12 >> 4).astype(np.uint8)
    jpeg_bytes = io.BytesIO()
    Image.fromarray(pattern8, mode="L").save(jpeg_bytes, format="JPEG", quality=95)
    reference = np.asarray(Image.open(io.BytesIO(jpeg_bytes.getvalue())).convert("L"))
    jpeg = _dicom_dataset(pattern8, 8)
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit  # type: ignore[attr-defined]
    jpeg.PixelData = encapsulate([jpeg_bytes.getvalue()])  # type: ignore[attr-defined]
    jpeg["PixelData"].VR = "OB"  # type: ignore[index]
    jpeg["PixelData"].is_undefined_length = True  # type: ignore[index]
    jpeg.LossyImageCompression = "01"  # type: ignore[attr-defined]
    out["JPEG Baseline"] = (_roundtrip(jpeg), reference, 4)
    return out


# --------------------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------------------

def check_resources() -> str:
    """Icons, stylesheet and app icon: without them the bundle starts, but looks broken and has no icon."""
    base = paths.resources_dir()
    wanted = ["style.qss", "icons/app.svg", "icons/open.svg", "app-icon.png"]
    missing = [name for name in wanted if not (base / name).is_file()]
    if missing:
        raise CheckFailed(f"missing in {base}: {', '.join(missing)}")
    icons = len(list((base / "icons").glob("*.svg")))
    return f"{icons} icons, stylesheet and app icon in {base}"


def _qt_plugin_dir() -> Path:
    spec = importlib.util.find_spec("PySide6")  # finds the package without importing Qt
    if spec is None or not spec.submodule_search_locations:
        raise CheckFailed("PySide6 is not installed or not bundled")
    return Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins"


def check_qt_plugins() -> str:
    """The Qt plugins a window needs, as files (importing Qt here would need a display on some systems)."""
    plugins = _qt_plugin_dir()
    platform = {"win32": "qwindows", "darwin": "qcocoa"}.get(sys.platform, "qxcb")
    wanted = {
        f"platforms/{platform}": f"platforms/*{platform}*",
        "platforms/offscreen": "platforms/*qoffscreen*",
        "imageformats/svg": "imageformats/*qsvg*",
        "iconengines/svg": "iconengines/*qsvgicon*",
    }
    missing = [label for label, pattern in wanted.items() if not list(plugins.glob(pattern))]
    if missing:
        raise CheckFailed(f"Qt plugins missing in {plugins}: {', '.join(missing)}")
    return f"{', '.join(wanted)} present"


def check_device(expect: str | None) -> str:
    """auto must pick CUDA exactly when torch sees a GPU, a tensor must compute there, and match ``expect``."""
    import torch

    from .robust import describe_device, resolve_device

    cuda = torch.cuda.is_available()
    device = resolve_device("auto")
    build = f"torch {torch.__version__}, " + (f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build")
    if device.type != ("cuda" if cuda else "cpu"):
        raise CheckFailed(f"auto chose {device} although torch.cuda.is_available() is {cuda} ({build})")
    value = float((torch.arange(8, dtype=torch.float32, device=device) * 2).sum().cpu())
    if value != 56.0:
        raise CheckFailed(f"a test computation on {device} gave {value} instead of 56 ({build})")
    if expect and device.type != expect:
        why = "no CUDA GPU is visible to torch (driver missing or too old?)" if expect == "cuda" else "a GPU is visible"
        raise CheckFailed(f"auto chose {device} but {expect} was expected: {why} ({build})")
    reason = "" if cuda else " (no CUDA GPU visible)"
    return f"auto → {describe_device(device)}{reason}; {build}"


def _inside_bundle(path: Path) -> bool:
    """True for files shipped inside a frozen bundle (not for a folder MEDRDF_MODELS_DIR points at)."""
    root = getattr(sys, "_MEIPASS", None)
    return bool(getattr(sys, "frozen", False) and root and Path(root).resolve() in path.resolve().parents)


@dataclass
class _ModelState:
    """Models that passed the load check, for the prediction check."""

    loaded: list  # list[LoadedModel]


def model_checks(directory: Path, state: _ModelState) -> list[Check]:
    """One sha256 and one load check per card in ``directory``; a single FAIL when no model is shipped.

    For the models shipped inside a bundle, the sha256 check also requires card and weights to be readable by
    every user: a bundle is installed once (often by root) and started by others.
    """
    try:
        from .modelzoo import DEFAULT_MODEL, ModelCard, load_model, sha256_file
    except Exception as exc:  # noqa: BLE001 - e.g. a torch library missing from the bundle
        return [Check("model", False, f"the model layer cannot be imported ({type(exc).__name__}: {exc})")]

    cards = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not cards:
        return [Check("model", False, f"no shipped model in {directory} (expected {DEFAULT_MODEL}.json with its "
                                      f".safetensors)")]
    checks: list[Check] = []
    for card_path in cards:
        label = card_path.stem

        def verify(card_path: Path = card_path) -> str:
            card = ModelCard.load(card_path)
            if not card.weights_path.is_file():
                raise CheckFailed(f"weights file {card.weights_path.name} is missing beside {card_path.name}")
            if _inside_bundle(card_path) and os.name == "posix":
                for path in (card_path, card.weights_path):
                    if not path.stat().st_mode & stat.S_IROTH:  # an installed bundle serves every user
                        raise CheckFailed(f"{path.name} is readable only by its owner (mode "
                                          f"{stat.S_IMODE(path.stat().st_mode):o}); other users cannot load it")
            actual = sha256_file(card.weights_path)
            if actual.lower() != card.sha256.lower():
                raise CheckFailed(f"{card.weights_path.name} has sha256 {actual[:12]}…, its card says "
                                  f"{card.sha256[:12]}…: damaged or tampered with")
            return f"{card.weights_path.name} sha256 {actual[:12]}… matches its card"

        sha = _run(f"model-sha256 {label}", verify)
        checks.append(sha)
        if not sha.ok:
            continue

        def load(card_path: Path = card_path) -> str:
            model = load_model(card_path, device="cpu")  # load_model verifies the sha256 again, on the bytes it parses
            state.loaded.append(model)
            card = model.card
            default = " (the default model)" if card.name == DEFAULT_MODEL else ""
            untrained = " — UNTRAINED test weights" if "UNTRAINED" in card.description else ""
            return (f"{card.architecture}, classes {', '.join(card.classes)}, input {card.channels}×"
                    f"{card.input_size[0]}×{card.input_size[1]}{default}{untrained}")

        checks.append(_run(f"model-load {label}", load))
    if not any(c.name.startswith("model-load") and c.ok for c in checks):
        checks.append(Check("model", False, f"no usable shipped model in {directory}"))
    return checks


def _pattern_tensor(model: "object", workdir: Path) -> "object":
    """The synthetic test pattern through the app's own PNG loader and preprocessing, as the model's input."""
    from PIL import Image

    from .imaging import load_study
    from .modelzoo import study_to_tensor

    png = workdir / "selftest-pattern.png"
    Image.fromarray((synthetic_pattern(256, bits=12) >> 4).astype(np.uint8), mode="L").save(png)
    return study_to_tensor(load_study(png), model.card)  # type: ignore[attr-defined]


def check_prediction(state: _ModelState, copies: int, workdir: Path) -> str:
    """A short MedRDF run on the test pattern, through the app's own PNG loader and preprocessing, twice."""
    from .modelzoo import DEFAULT_MODEL
    from .robust import robust_predict

    if not state.loaded:
        raise CheckFailed("skipped: no model loaded")
    model = next((m for m in state.loaded if m.name == DEFAULT_MODEL), state.loaded[0])
    x = _pattern_tensor(model, workdir)
    batch = max(1, min(32, copies))
    first = robust_predict(model, x, n=copies, seed=SEED, batch_size=batch, device="auto")
    second = robust_predict(model, x, n=copies, seed=SEED, batch_size=batch, device="auto")
    if sum(first.counts.values()) != copies or first.n_used != copies:
        raise CheckFailed(f"{model.name}: {sum(first.counts.values())} votes counted for {copies} copies")
    if first.counts != second.counts:
        raise CheckFailed(f"{model.name}: the same seed gave different votes ({first.counts} vs {second.counts})")
    if first.verdict not in ("accept", "re-evaluate"):
        raise CheckFailed(f"{model.name}: unknown verdict {first.verdict!r}")
    outcome = "abstained" if first.abstained else f"vote {first.top_class}"
    return (f"{model.name} on a synthetic test pattern, n = {copies}: {outcome}, RM {first.rm:.2f}, "
            f"{first.verdict}, on {first.device}, {first.elapsed_s:.2f} s (meaningless as a diagnosis)")


@contextlib.contextmanager
def _warnings_of(logger_name: str) -> Iterator[list[str]]:
    """The messages of the WARNING and worse records ``logger_name`` emits inside the block."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def _cache_in(folder: Path) -> Iterator[None]:
    """``MEDRDF_CACHE_DIR`` pointed at ``folder`` inside the block, so nothing comes from an earlier run's cache."""
    before = os.environ.get("MEDRDF_CACHE_DIR")
    os.environ["MEDRDF_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MEDRDF_CACHE_DIR", None)
        else:
            os.environ["MEDRDF_CACHE_DIR"] = before


def check_fast_backend(state: _ModelState, copies: int, workdir: Path) -> str:
    """The vote on the fast CPU backend (OpenVINO fp32): exported to ONNX and compiled in this run, its logits
    checked against torch, and a short vote whose label and verdict must equal torch fp32's on the same copies.

    Why a check of its own: "auto" falls back to torch silently (a run never fails for want of a faster library),
    so ``predict`` passes even where OpenVINO, its CPU plugin or its ONNX reader is missing from a bundle. On
    a GPU machine the vote runs in torch on the GPU; this check still proves the CPU path.
    """
    import torch

    from .modelzoo import DEFAULT_MODEL
    from .robust import backends, robust_predict

    if not state.loaded:
        raise CheckFailed("skipped: no model loaded")
    missing = [name for name in ("openvino", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise CheckFailed(f"{' and '.join(missing)} not installed: the vote would run in torch fp32 (slower)")
    model = next((m for m in state.loaded if m.name == DEFAULT_MODEL), state.loaded[0])
    cpu = torch.device("cpu")
    model.module.to(cpu)
    shape = (model.card.channels, *model.card.input_size)
    with _cache_in(workdir / "cache"), _warnings_of(backends.__name__) as reasons:
        classifier = backends.select_classifier(model, cpu, "openvino", "fp32", shape)
    exported = any((workdir / "cache").rglob("*.onnx"))
    if classifier.backend != "openvino":
        # OpenVINO's messages span lines, each cause prefixed with the C++ source it came from: one line, causes only
        why = "; ".join(" ".join(re.sub(r"Exception from \S+:\d+:", "", reason).split()) for reason in reasons)
        raise CheckFailed(f"OpenVINO cannot run {model.name}: {why or 'no reason given'}")
    difference = backends.check_against_torch(classifier, model.module, shape)
    x = _pattern_tensor(model, workdir)
    batch = max(1, min(32, copies))
    common = dict(n=copies, seed=SEED, batch_size=batch, device="cpu", sampling="fixed")
    fast = robust_predict(model, x, classifier=classifier, **common)
    reference = robust_predict(model, x, classifier=backends.TorchClassifier(model.module), **common)
    ran_on = fast.settings.get("backend")
    if ran_on != "openvino" or sum(fast.counts.values()) != copies:
        raise CheckFailed(f"the vote ran on {ran_on} with {sum(fast.counts.values())} of {copies} copies")
    outcome = lambda r: (r.diagnosis or "abstained", r.verdict)  # noqa: E731
    if outcome(fast) != outcome(reference):
        raise CheckFailed(f"OpenVINO's vote {outcome(fast)} {fast.counts} differs from torch fp32's "
                          f"{outcome(reference)} {reference.counts}")
    import openvino

    same = "same votes" if fast.counts == reference.counts else f"votes {fast.counts} vs torch {reference.counts}"
    where = "exported to ONNX and compiled in this run" if exported else "compiled earlier in this process"
    return (f"OpenVINO {openvino.__version__.split('-')[0]} fp32 runs {model.name} ({where}), logits within "
            f"{difference:.1g} of torch; vote n = {copies}: {', '.join(outcome(fast))}, {same} as torch fp32 "
            f"({fast.elapsed_s:.2f} s vs {reference.elapsed_s:.2f} s)")


def dicom_checks(workdir: Path) -> list[Check]:
    """Decode in-memory DICOM files with every decoder the viewer relies on, then once through ``load_study``."""
    checks: list[Check] = []
    holder: dict[str, dict] = {}

    def build() -> str:
        holder["files"] = encoded_dicoms()
        return ", ".join(holder["files"]) + " encoded in memory"

    built = _run("dicom-encode", build)
    checks.append(built)
    if not built.ok:
        return checks

    try:
        from pydicom.pixels import get_decoder
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("dicom-decode", False, f"pydicom cannot be imported ({type(exc).__name__}: {exc})"))
        return checks

    plan = {"RLE Lossless": RLE_DECODERS, "JPEG 2000 Lossless": J2K_DECODERS, "JPEG Baseline": JPEG_DECODERS}
    for syntax, decoders in plan.items():
        ds, expected, tolerance = holder["files"][syntax]
        decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
        for plugin, needs in decoders:
            def decode(ds=ds, expected=expected, tolerance=tolerance, decoder=decoder, plugin=plugin,
                       needs=needs) -> str:
                if plugin not in decoder.available_plugins:
                    raise CheckFailed(f"decoder '{plugin}' unavailable ({needs}); missing: "
                                      f"{'; '.join(decoder.missing_dependencies) or 'unknown'}")
                array, _ = decoder.as_array(ds, decoding_plugin=plugin)
                if array.shape != expected.shape:
                    raise CheckFailed(f"decoded shape {array.shape}, expected {expected.shape}")
                worst = int(np.abs(array.astype(np.int32) - expected.astype(np.int32)).max())
                if worst > tolerance:
                    raise CheckFailed(f"decoded pixels differ by up to {worst} (allowed {tolerance})")
                exact = "exact" if tolerance == 0 else f"within {tolerance} grey levels"
                return f"{array.shape[1]}×{array.shape[0]} test pattern decoded by {plugin} ({needs}), {exact}"

            checks.append(_run(f"dicom-decode {syntax} via {plugin}", decode))

    def through_loader() -> str:
        from .imaging import load_study

        decoded = []
        for syntax, (ds, expected, _) in holder["files"].items():
            path = workdir / f"selftest-{syntax.split()[0].lower()}.dcm"
            ds.save_as(path, enforce_file_format=True)
            study = load_study(path)
            if study.shape != expected.shape:
                raise CheckFailed(f"{syntax}: load_study gave {study.shape}, expected {expected.shape}")
            decoded.append(syntax)
        return f"load_study opened {', '.join(decoded)}"

    checks.append(_run("dicom-loader", through_loader))
    return checks


def run_checks(models_directory: Path | None = None, copies: int = DEFAULT_COPIES, expect_device: str | None = None,
               emit: Callable[[str], None] | None = None) -> list[Check]:
    """Run every check, calling ``emit`` with each line as soon as it is known (so a hang shows where)."""
    emit = emit or (lambda line: None)
    results: list[Check] = []

    def record(items: Iterable[Check]) -> None:
        for item in items:
            results.append(item)
            emit(item.line())

    directory = models_directory or paths.models_dir()
    state = _ModelState(loaded=[])
    with tempfile.TemporaryDirectory(prefix="medrdf-selftest-") as tmp:
        workdir = Path(tmp)
        record([_run("resources", check_resources)])
        record([_run("qt-plugins", check_qt_plugins)])
        record([_run("device", lambda: check_device(expect_device))])
        record(model_checks(directory, state))
        # the fast backend first, so that it exports and compiles the model itself (predict then reuses it)
        record([_run("fast-backend", lambda: check_fast_backend(state, copies, workdir))])
        record([_run("predict", lambda: check_prediction(state, copies, workdir))])
        record(dicom_checks(workdir))
    return results


def header() -> str:
    """What is being tested: version, Python, frozen or not, where the bundle lives."""
    where = f"bundle {getattr(sys, '_MEIPASS')}" if getattr(sys, "frozen", False) else f"source {paths.REPO_ROOT}"
    return f"MedRDF Viewer {__version__} self-test: Python {sys.version.split()[0]} on {sys.platform}, {where}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medrdf-viewer --self-test",
                                     description="Headless check of an installed MedRDF Viewer (no patient data).")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder of models to check (default: the shipped ones; MEDRDF_MODELS_DIR also works)")
    parser.add_argument("--copies", type=int, default=DEFAULT_COPIES,
                        help=f"noisy copies in the prediction check (default {DEFAULT_COPIES}; at least 11)")
    parser.add_argument("--expect-device", choices=("cpu", "cuda"), default=None,
                        help="also FAIL unless the automatic device choice is this one (e.g. on a GPU workstation)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the header, one PASS/FAIL line per check and a summary; 0 only when every check passed."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    print(header(), flush=True)
    results = run_checks(args.models_dir, max(11, args.copies), args.expect_device,
                         emit=lambda line: print(line, flush=True))
    failed = sum(not r.ok for r in results)
    print(f"self-test: {len(results) - failed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and results else 1


if __name__ == "__main__":
    sys.exit(main())
