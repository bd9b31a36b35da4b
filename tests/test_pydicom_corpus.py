"""What arrives from a PACS varies: the loader over pydicom's own test corpus (the files shipped inside the
installed pydicom package, its text files aside). Every file either loads or is refused with one sentence —
never a crash — and files pydicom itself decodes with only a warning (MR_small_padded.dcm: 128 bytes of zero
padding after the pixel data) load with a warning."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medrdf_gui.imaging import StudyLoadError, load_study

CORPUS = Path(pydicom.__file__).parent / "data" / "test_files"
TEXT = {".txt", ".json"}


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in TEXT and p.name != "README")


def test_every_corpus_file_loads_or_is_refused_in_one_sentence() -> None:
    files = corpus_files()
    assert len(files) >= 150, f"pydicom's corpus has shrunk to {len(files)} files"
    outcome: Counter[str] = Counter()
    for path in files:
        try:
            load_study(path)
            outcome["load"] += 1
        except StudyLoadError as exc:
            text = str(exc)
            assert text and "\n" not in text and text.endswith("."), (path.name, text)
            outcome["refuse"] += 1
    # pydicom 3.0.2's 171 files: 88 load, 83 refused (most are not images: SR, RT, DICOMDIR, deflated bombs…)
    assert outcome["load"] + outcome["refuse"] == len(files)
    assert outcome["load"] >= 88 * len(files) // 171 - 2, outcome


def test_padded_pixel_data_is_accepted_with_a_warning() -> None:
    padded = load_study(CORPUS / "MR_small_padded.dcm")
    plain = load_study(CORPUS / "MR_small.dcm")
    assert np.array_equal(padded.raw, plain.raw)
    assert any("128 bytes of zero padding" in w for w in padded.warnings)


@pytest.mark.parametrize("filler", [b"\x01", b"\x00\x05"])
def test_excess_that_is_not_padding_is_still_refused(tmp_path: Path, filler: bytes) -> None:
    ds = pydicom.dcmread(CORPUS / "MR_small.dcm")
    ds.PixelData = ds.PixelData + filler * (64 // len(filler))
    path = tmp_path / "excess.dcm"
    ds.save_as(path)
    with pytest.raises(StudyLoadError, match="the file is damaged"):
        load_study(path)
