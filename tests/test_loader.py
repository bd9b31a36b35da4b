"""load_study on every real DICOM of ../shared/data/dicom (expectations from its manifest), the cxr3 PNGs, and
generated raster variants and broken files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from medrdf_gui.imaging import StudyLoadError, load_study
from medrdf_gui.paths import data_dir

MANIFEST = data_dir() / "dicom" / "manifest.csv"
ROWS = list(csv.DictReader(MANIFEST.open())) if MANIFEST.is_file() else []
IMAGE_ROWS = [r for r in ROWS if r["is_image"] == "True"]
NON_IMAGE_ROWS = [r for r in ROWS if r["is_image"] != "True"]


def _decodable_12bit_jpeg() -> bool:
    """JPEG Extended 12-bit is decoded only by pylibjpeg-libjpeg (GPLv3, deliberately not a dependency):
    without it the file must fail with a clear message."""
    import importlib.util

    return importlib.util.find_spec("libjpeg") is not None


def test_manifest_lists_21_files(dicom_dir: Path) -> None:
    assert len(ROWS) == 21
    assert all((dicom_dir / r["file"]).is_file() for r in ROWS)


@pytest.mark.parametrize("row", IMAGE_ROWS, ids=[r["file"] for r in IMAGE_ROWS])
def test_every_image_dicom_loads_per_manifest(row: dict, dicom_dir: Path) -> None:
    path = dicom_dir / row["file"]
    if row["file"] == "nm_jpeg_extended_12bit.dcm" and not _decodable_12bit_jpeg():
        with pytest.raises(StudyLoadError, match="no installed decoder"):
            load_study(path)
        return
    study = load_study(path)
    assert study.shape == (int(row["rows"]), int(row["cols"]))
    assert study.frame_count == max(1, int(row["frames"]))
    assert study.modality == row["modality"]
    assert study.display.dtype == np.float32
    assert np.isfinite(study.display).all()
    assert 0.0 <= study.display.min() and study.display.max() <= 1.0
    assert study.display.max() > study.display.min(), "a real image is not flat"
    if row["photometric"].startswith(("RGB", "YBR")):
        assert study.is_color and study.display.shape[2] == 3
    else:
        assert study.photometric == row["photometric"]
    if row["patient_name"]:
        assert study.identifiers.get("PatientName") == row["patient_name"]


@pytest.mark.parametrize("row", NON_IMAGE_ROWS, ids=[r["file"] for r in NON_IMAGE_ROWS])
def test_non_image_dicom_is_rejected_in_one_sentence(row: dict, dicom_dir: Path) -> None:
    with pytest.raises(StudyLoadError, match="contains no image") as info:
        load_study(dicom_dir / row["file"])
    assert "\n" not in str(info.value)


def test_monochrome1_is_inverted(dicom_dir: Path) -> None:
    """MONOCHROME1: high stored values are dark, so display falls as modality values rise."""
    study = load_study(dicom_dir / "cxr_cr_mono1_nopreamble_CR-MONO1-10-chest.dcm")
    assert study.inverted
    corr = np.corrcoef(study.modality_values.ravel(), study.display.ravel())[0, 1]
    assert corr < -0.9
    mono2 = load_study(dicom_dir / "xr_cr_mono2_hip_jpeg_lossless_RG2.dcm")
    assert np.corrcoef(mono2.modality_values.ravel(), mono2.display.ravel())[0, 1] > 0.9


def test_first_window_is_applied_with_pydicom_semantics(dicom_dir: Path) -> None:
    """WC/WW 511/1024 (LINEAR): value c−0.5−(w−1)/2 and below → 0, above c−0.5+(w−1)/2 → 1, linear between."""
    study = load_study(dicom_dir / "xr_cr_mono2_hip_jpeg_lossless_RG2.dcm")
    assert (study.default_window.center, study.default_window.width) == (511.0, 1024.0)
    v = study.modality_values
    expected = np.clip(((v - 510.5) / 1023.0 + 0.5), 0, 1)
    assert np.allclose(study.display, expected, atol=2e-5)


def test_modality_lut_rescale_is_applied(dicom_dir: Path) -> None:
    ds = pydicom.dcmread(dicom_dir / "ct_small_uncompressed.dcm")
    study = load_study(dicom_dir / "ct_small_uncompressed.dcm")
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.allclose(study.modality_values, expected)
    assert any("CT" in p.name for p in study.window_presets)


def test_voi_lut_sequence_defines_the_display(dicom_dir: Path) -> None:
    study = load_study(dicom_dir / "ot_voi_lut_sequence.dcm")
    assert study.default_window is None  # the LUT, not a window, rendered it
    ds = pydicom.dcmread(dicom_dir / "ot_voi_lut_sequence.dcm")
    lut = np.asarray(ds.VOILUTSequence[0].LUTData)
    first = int(ds.VOILUTSequence[0].LUTDescriptor[1])
    idx = np.clip(study.raw.astype(int) - first, 0, lut.size - 1)
    expected = (lut[idx] - lut.min()) / (lut.max() - lut.min())
    assert np.allclose(study.display, expected, atol=1e-6)


def test_multiframe_frame_selection(dicom_dir: Path) -> None:
    path = dicom_dir / "mr_enhanced_multiframe_10f.dcm"
    first, last = load_study(path, frame=0), load_study(path, frame=9)
    assert first.frame_count == 10 and last.frame_index == 9
    assert not np.array_equal(first.raw, last.raw)
    assert any("frame 10 of 10" in w for w in last.warnings)
    with pytest.raises(StudyLoadError, match="frame 11 does not exist"):
        load_study(path, frame=10)


def test_wrong_modality_and_body_part_warn(dicom_dir: Path) -> None:
    assert any("CT image" in w for w in load_study(dicom_dir / "ct_small_uncompressed.dcm").warnings)
    assert any("HIP" in w for w in load_study(dicom_dir / "xr_cr_mono2_hip_jpeg_lossless_RG2.dcm").warnings)
    chest = load_study(dicom_dir / "cxr_cr_mono1_nopreamble_CR-MONO1-10-chest.dcm")
    assert not any("trained on chest" in w for w in chest.warnings)


def test_identifiers_kept_in_one_place_and_flagged_in_tags(dicom_dir: Path) -> None:
    study = load_study(dicom_dir / "cxr_cr_mono1_j2k_lossy_RG1.dcm")
    assert study.identifiers["PatientName"] == "CompressedSamples^RG1"
    flagged = {t.keyword for t in study.tags if t.identifying}
    assert "PatientName" in flagged and "PatientID" in flagged
    assert not any(t.keyword == "PixelData" and "bytes" not in t.value for t in study.tags)


def test_cxr_png_reads_exactly_as_8bit_over_255(cxr_png: Path) -> None:
    study = load_study(cxr_png)
    assert study.shape == (224, 224) and not study.is_color
    raw = np.asarray(Image.open(cxr_png).convert("L"))
    assert np.array_equal(study.raw, raw)
    assert np.allclose(study.display, raw / 255.0)


def test_raster_variants(tmp_path: Path) -> None:
    ramp16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 8)
    Image.fromarray(ramp16).save(tmp_path / "g16.png")
    s16 = load_study(tmp_path / "g16.png")
    assert s16.bits_stored == 16 and s16.display.min() == 0.0 and s16.display.max() == 1.0
    assert len(np.unique(s16.display)) > 256, "16-bit data is not truncated to 8 bits"

    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    s_rgba = load_study(tmp_path / "rgba.png")
    assert s_rgba.is_color and any("transparen" in w for w in s_rgba.warnings)

    pal = Image.fromarray(np.tile(np.arange(32, dtype=np.uint8), (32, 1))).convert("P")
    pal.save(tmp_path / "pal.png")
    assert load_study(tmp_path / "pal.png").shape == (32, 32)

    grey_rgb = np.repeat(np.arange(32, dtype=np.uint8)[None, :, None], 32, 0).repeat(3, 2)
    Image.fromarray(grey_rgb).save(tmp_path / "grey_rgb.jpg", quality=100)
    assert load_study(tmp_path / "grey_rgb.jpg").display.ndim in (2, 3)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.dcm", b"", "empty"),
        ("random.dcm", os.urandom(4096), "not a DICOM|damaged"),
        ("random.png", os.urandom(4096), "not an image|damaged"),
        ("noext", os.urandom(300), "neither|not a DICOM|damaged"),
    ],
)
def test_bad_files_raise_one_clean_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(StudyLoadError, match=message) as info:
        load_study(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.95])
def test_truncated_dicom_fails_cleanly(tmp_path: Path, dicom_dir: Path, fraction: float) -> None:
    blob = (dicom_dir / "cxr_cr_mono2_jpeg_baseline_siim_pa_neg.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(blob[: int(len(blob) * fraction)])
    with pytest.raises(StudyLoadError):
        load_study(path)


def test_tiny_and_huge_images_are_refused(tmp_path: Path) -> None:
    Image.new("L", (1, 1)).save(tmp_path / "one.png")
    with pytest.raises(StudyLoadError, match="1×1"):
        load_study(tmp_path / "one.png")
    # A PNG header claiming 30,000 × 30,000 pixels (decompression bomb) must be refused before decoding.
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(StudyLoadError, match="megapixel|decompression bomb"):
        load_study(tmp_path / "bomb.png")


def test_paths_that_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(StudyLoadError, match="does not exist"):
        load_study(tmp_path / "missing.png")
    with pytest.raises(StudyLoadError, match="folder"):
        load_study(tmp_path)
    loop = tmp_path / "loop.dcm"
    loop.symlink_to(loop)
    with pytest.raises(StudyLoadError):
        load_study(loop)
