"""Bounded fuzzing of ``load_study`` with mutated real DICOM files from ../shared/data/dicom.

Contract under test: whatever the bytes, ``load_study`` returns a :class:`Study` whose display is finite and in
[0, 1] and which the model pipeline accepts, or raises :class:`StudyLoadError` — no other exception, no hang
(each example runs under a SIGALRM deadline) and no native-decoder text on stderr. ``load_study`` has a
last-resort net that turns an unforeseen exception into "could not be read (internal error: …)" (and
``load_dicom`` one that says "has a damaged header and cannot be shown"); the fuzzer treats those sentences as
failures, so the nets protect users without hiding loader bugs from this test.

Mutations are byte flips, truncations, insertions, deletions and "interesting" integers (0, 1, 0xFFFF,
0xFFFFFFFF, …) written over 2 or 4 bytes, which is how lengths and Rows/Columns/BitsAllocated go wrong. Two thirds
of the offsets fall in the header (before Pixel Data), where a mutation changes what the loader decides rather
than only pixel values. Deterministic (``derandomize=True``) and bounded (150 examples, < 30 s on a busy 2-core
machine) so that it can run in every CI job; raise ``MEDRDF_FUZZ_EXAMPLES`` locally for a longer hunt.
"""

from __future__ import annotations

import os
import signal
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from medrdf_gui.imaging import Study, StudyLoadError, load_study
from medrdf_gui.modelzoo import ModelCard, study_to_tensor
from medrdf_gui.paths import data_dir

# Small files (≤ 40 KB) so that one example takes milliseconds; together they cover native little endian,
# JPEG baseline (colour), JPEG-LS, JPEG 2000, RLE (single and multi-frame), JPEG Extended, CT with rescale,
# and the two non-image objects.
SEEDS = [
    "mr_small_uncompressed.dcm", "mr_small_j2k_lossless.dcm", "mr_small_jpegls_lossless.dcm", "mr_small_rle.dcm",
    "sc_rgb_jpeg_baseline_ybr.dcm", "sc_rgb_rle_2frame.dcm", "ct_small_uncompressed.dcm", "nm_jpeg_extended_12bit.dcm",
    "rtplan_nonimage.dcm", "sr_nonimage.dcm",
]
BLOBS = {name: (data_dir() / "dicom" / name).read_bytes() for name in SEEDS if (data_dir() / "dicom" / name).is_file()}
EXAMPLES = int(os.environ.get("MEDRDF_FUZZ_EXAMPLES", "150"))
PER_EXAMPLE_S = 10
INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
CARD = ModelCard(name="fuzz", architecture="tinycnn", classes=["a", "b"], input_size=(16, 16), channels=1,
                 mean=[0.5], std=[0.25], weights="none", sha256="0" * 64)


class Hang(Exception):
    """Raised by the alarm when one example runs past its deadline."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def _alarm(signum, frame):  # noqa: ARG001
        raise Hang(f"load_study ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _header_end(blob: bytes) -> int:
    """Offset of the Pixel Data element (the end of the interesting header), or the file length."""
    at = blob.rfind(b"\xe0\x7f\x10\x00")
    return at + 12 if at > 0 else len(blob)


@st.composite
def mutated_dicom(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(BLOBS)))
    data = bytearray(BLOBS[name])
    for _ in range(draw(st.integers(1, 6))):
        size = len(data)
        if size < 8:
            break
        in_header = draw(st.integers(0, 2)) < 2
        top = max(1, min(size, _header_end(bytes(data)))) if in_header else size
        at = draw(st.integers(0, top - 1))
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "int16", "int32"]))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            fmt = "<H" if kind == "int16" else "<I"
            value = draw(st.sampled_from(INTERESTING)) & (0xFFFF if kind == "int16" else 0xFFFFFFFF)
            packed = struct.pack(fmt, value)
            data[at : at + len(packed)] = packed
    return name, bytes(data)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "case.dcm"


def _check_study(study: Study) -> None:
    display = study.display
    assert display.dtype == np.float32 and display.ndim in (2, 3)
    assert display.shape[0] >= 2 and display.shape[1] >= 2
    assert display.ndim == 2 or display.shape[2] == 3
    assert np.isfinite(display).all(), "non-finite display values"
    assert float(display.min()) >= 0.0 and float(display.max()) <= 1.0
    x = study_to_tensor(study, CARD)  # what `medrdf predict` does next must not fail either
    assert x.shape == (1, 1, 16, 16) and bool(x.isfinite().all())
    assert len(study.pixel_sha256()) == 64
    for preset in study.window_presets:  # every offered window renders to valid intensities
        shown = study.render(preset)
        assert np.isfinite(shown).all() and shown.min() >= 0.0 and shown.max() <= 1.0, preset


@pytest.mark.skipif(not BLOBS, reason="../shared/data/dicom missing (the data tests fail loudly elsewhere)")
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(case=mutated_dicom())
def test_mutated_dicom_loads_or_raises_study_load_error(case: tuple[str, bytes], fuzz_file: Path, capfd) -> None:
    name, blob = case
    fuzz_file.write_bytes(blob)
    with deadline(PER_EXAMPLE_S):
        try:
            study = load_study(fuzz_file)
        except StudyLoadError as exc:
            message = str(exc)
            assert message and "\n" not in message
            # The last-resort nets (load_study's, load_dicom's) turn an unforeseen exception into these sentences:
            # for users that is enough, for the fuzzer it is a loader bug to fix.
            assert "internal error" not in message and "damaged header and cannot be shown" not in message, message
            assert exc.__cause__ is None and exc.__context__ is None, "a library error travels with the refusal"
            study = None
    event("refused" if study is None else "loaded")  # pytest --hypothesis-show-statistics shows the split
    if study is not None:
        _check_study(study)
    _, err = capfd.readouterr()
    assert err == "", f"{name}: text on stderr: {err[:300]!r}"


def test_the_fuzzer_reaches_both_outcomes(fuzz_file: Path) -> None:
    """Guard against a vacuous fuzzer: an unmutated seed loads, a zero-filled header is refused."""
    fuzz_file.write_bytes(BLOBS["mr_small_uncompressed.dcm"])
    assert load_study(fuzz_file).shape == (64, 64)
    blob = bytearray(BLOBS["mr_small_uncompressed.dcm"])
    blob[132:1000] = bytes(868)
    fuzz_file.write_bytes(bytes(blob))
    with pytest.raises(StudyLoadError):
        load_study(fuzz_file)
