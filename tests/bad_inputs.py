"""Generator of the bad-input corpus: every file is built at test time in a temporary folder from the real DICOM
files of ../shared/data/dicom or from scratch, so nothing binary is committed and nothing is downloaded.

``build_corpus(folder, dicom_dir)`` returns :class:`Case` objects. ``loads`` says whether the file is merely odd
and must load (exit 0), ``expect`` is a regular expression the one-line refusal (or, for odd files, a study
warning) must match. Cases that a file cannot express — a path the user may not read — are simulated in the
tests themselves (see tests/test_bad_inputs.py: we run as root, and root ignores ``chmod 000``).

Run ``python tests/bad_inputs.py OUT_DIR`` to write the corpus somewhere for manual poking.
"""

from __future__ import annotations

import io
import os
import random
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

SMALL_NATIVE = "mr_small_uncompressed.dcm"  # 64×64 16-bit MR, explicit VR little endian, 9.8 KB
SMALL_J2K = "mr_small_j2k_lossless.dcm"
SMALL_RLE = "mr_small_rle.dcm"
SMALL_JPEG = "sc_rgb_jpeg_baseline_ybr.dcm"  # 100×100 colour JPEG baseline
CT_SLICE = "ct_small_uncompressed.dcm"
JPEG_XL_LOSSLESS = "1.2.840.10008.1.2.4.110"  # registered 2024; no decoder in pydicom 3.0
MADE_UP_PRIVATE_TS = "1.2.826.0.1.3680043.9.9999.7.1"


@dataclass(frozen=True)
class Case:
    """One corpus entry: a path to hand to the CLI and what must happen to it."""

    name: str
    path: Path
    loads: bool
    expect: str  # regex: the refusal sentence, or (for odd-but-good files) a study warning; "" = no warning needed
    note: str = ""


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width × height 8-bit grey pixels and carries no pixel data (a decompression bomb's
    header: Pillow would allocate width × height bytes on load)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def rewrite_transfer_syntax(blob: bytes, uid: str) -> bytes:
    """Replace the Transfer Syntax UID in a file's meta group, fixing the element and group lengths.

    Done on the bytes because pydicom refuses to write a data set under a transfer syntax it does not know.
    """
    at = blob.find(b"\x02\x00\x10\x00UI")
    assert at > 0, "no (0002,0010) Transfer Syntax UID element"
    (old_len,) = struct.unpack("<H", blob[at + 6 : at + 8])
    value = uid.encode("ascii")
    value += b"\x00" * (len(value) % 2)
    out = bytearray(blob[: at + 6] + struct.pack("<H", len(value)) + value + blob[at + 8 + old_len :])
    assert out[132:140] == b"\x02\x00\x00\x00UL\x04\x00", "no (0002,0000) group length"
    (group_len,) = struct.unpack("<I", out[140:144])
    struct.pack_into("<I", out, 140, group_len + len(value) - old_len)
    return bytes(out)


def dicom_variant(src: Path, **changes: object) -> bytes:
    """``src`` with header attributes changed (``Rows=128``, ``PixelData=b"..."``) and re-encoded by pydicom."""
    ds = pydicom.dcmread(src)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def deflate_bomb(src: Path, inflated: int) -> bytes:
    """A Deflated Explicit VR Little Endian file whose data set inflates to about ``inflated`` bytes of zeros
    (Pixel Data) from ~``inflated`` / 1000 bytes on disk.

    After a full flush, deflate emits byte-identical blocks for identical input, so one compressed 1 MiB block
    is simply repeated: the file is built in milliseconds without ever holding the inflated bytes.
    """
    blob = src.read_bytes()
    (group_len,) = struct.unpack("<I", blob[140:144])
    meta_end = 144 + group_len
    meta = rewrite_transfer_syntax(blob[:meta_end], pydicom.uid.DeflatedExplicitVRLittleEndian)
    body = blob[meta_end:]
    pixel_at = body.find(b"\xe0\x7f\x10\x00")
    chunk = bytes(1 << 20)
    blocks = max(1, inflated >> 20)
    head = body[:pixel_at] + b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", blocks << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(head), deflater.flush(zlib.Z_FULL_FLUSH)]
    parts.append(deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH))
    repeat = deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH)
    parts.append(repeat * (blocks - 2))
    parts.append(deflater.flush())
    return meta + b"".join(parts)


def deflated_copy(src: Path) -> bytes:
    """A legitimate Deflated Explicit VR Little Endian copy of ``src`` (must keep loading despite the bomb guard)."""
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def codestream_cut_short(src: Path, fraction: float = 0.5) -> bytes:
    """``src`` (one compressed frame) with its codestream cut to ``fraction`` and closed by an EOI marker, then
    re-encapsulated: the DICOM structure is intact, the picture data is not. libjpeg decodes such a frame with
    grey where the data ends and says "Corrupt JPEG data: premature end of data segment" on stderr."""
    from pydicom.encaps import encapsulate, get_frame

    ds = pydicom.dcmread(src)
    frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([frame[: int(len(frame) * fraction)] + b"\xff\xd9"])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def build_corpus(folder: Path, dicom_dir: Path) -> list[Case]:
    """Write the corpus into ``folder`` (created) and describe it. Deterministic: random bytes are seeded."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20240601)
    native = dicom_dir / SMALL_NATIVE
    native_blob = native.read_bytes()
    pixel_at = native_blob.rfind(b"\xe0\x7f\x10\x00")
    cases: list[Case] = []

    def bad(name: str, data: bytes, expect: str, note: str = "") -> None:
        cases.append(Case(name, _write(folder, name, data), False, expect, note))

    def good(name: str, path: Path, expect: str = "", note: str = "") -> None:
        cases.append(Case(name, path, True, expect, note))

    bad("empty.dcm", b"", "empty", "0-byte file")
    bad("random.dcm", rng.randbytes(4096), "not a DICOM|damaged", "random bytes named .dcm")
    bad("random.png", rng.randbytes(4096), "not an image|damaged", "random bytes named .png")
    bad("random_noext", rng.randbytes(700), "neither|not a DICOM|damaged", "random bytes, no suffix")
    pixel_end = pixel_at + 12 + 64 * 64 * 2  # the file goes on with (FFFC,FFFC) trailing padding
    for label, offset, expect in [
        ("in-preamble", 100, "not a DICOM"), ("after-magic", 132, "damaged or truncated"),
        ("in-file-meta", 200, "damaged or truncated"), ("in-header", 700, "probably truncated"),
        ("in-pixel-data", pixel_at + 4000, "pixel data is 3,988 bytes"), ("last-pixel-byte", pixel_end - 1, "8,191 bytes"),
    ]:
        bad(f"truncated_{label}.dcm", native_blob[:offset], expect, f"{SMALL_NATIVE} cut at byte {offset}")
    for label, src in [("j2k", SMALL_J2K), ("rle", SMALL_RLE), ("jpeg", SMALL_JPEG)]:
        blob = (dicom_dir / src).read_bytes()
        at = blob.rfind(b"\xe0\x7f\x10\x00")
        bad(f"truncated_{label}_pixels.dcm", blob[: at + (len(blob) - at) // 2], "damaged|truncated",
            f"{src} cut inside its compressed pixel data")
    bad("pixeldata_short.dcm", dicom_variant(native, Rows=128), "pixel data is 8,192 bytes.*needs 16,384",
        "Rows doubled: the pixel data is half what Rows×Columns×BitsAllocated needs")
    bad("pixeldata_long.dcm", dicom_variant(native, Rows=32), "pixel data is 8,192 bytes.*needs 4,096",
        "Rows halved: twice the pixel data the header accounts for")
    bad("jpegxl_ts.dcm", rewrite_transfer_syntax((dicom_dir / SMALL_J2K).read_bytes(), JPEG_XL_LOSSLESS),
        "no installed decoder", "a JPEG 2000 file relabelled JPEG XL, which nothing installed decodes")
    bad("private_ts.dcm", rewrite_transfer_syntax(native_blob, MADE_UP_PRIVATE_TS), "no installed decoder",
        "a made-up private transfer syntax")
    bad("rtplan.dcm", (dicom_dir / "rtplan_nonimage.dcm").read_bytes(), "contains no image", "real RT plan")
    bad("sr.dcm", (dicom_dir / "sr_nonimage.dcm").read_bytes(), "contains no image", "real structured report")
    one = io.BytesIO()
    Image.new("L", (1, 1)).save(one, format="PNG")
    bad("one_pixel.png", one.getvalue(), "1×1", "1×1 PNG")
    bad("one_pixel.dcm", dicom_variant(native, Rows=1, Columns=1, PixelData=b"\x00\x00"), "1×1", "1×1 DICOM")
    bad("bomb.png", png_header_only(30_000, 30_000), "megapixel|decompression bomb", "30,000×30,000 PNG header")
    bad("bomb_deflated.dcm", deflate_bomb(native, 2600 << 20), "decompression bomb",
        "deflated data set that inflates to 2.6 GB (before the fix: 8.5 GB peak RSS, then a diagnosis)")
    j2k = bytearray((dicom_dir / SMALL_J2K).read_bytes())
    siz = j2k.find(b"\xff\x4f\xff\x51") + 8
    struct.pack_into(">II", j2k, siz, 40_000, 40_000)
    struct.pack_into(">II", j2k, siz + 16, 40_000, 40_000)
    bad("bomb_j2k_siz.dcm", bytes(j2k), "declares 40000×40000",
        "JPEG 2000 frame whose SIZ claims 40,000×40,000 (before the fix: 10 GB peak RSS, 80 s)")
    consistent = bytearray(dicom_variant(dicom_dir / SMALL_J2K, Rows=9000, Columns=9000))
    siz = consistent.find(b"\xff\x4f\xff\x51") + 8
    struct.pack_into(">II", consistent, siz, 9000, 9000)
    struct.pack_into(">II", consistent, siz + 16, 9000, 9000)
    bad("bomb_j2k_consistent.dcm", bytes(consistent), "decompression bomb",
        "4 KB JPEG 2000 frame, header and SIZ both 9000×9000 (decoded to 81 MP of noise: 2.7 GB, 25 s before the fix)")
    bad("rle_overrun.dcm", _rle_overrun((dicom_dir / SMALL_RLE).read_bytes()), "damaged",
        "RLE segment that decodes past its end (before the fix: a Rust panic, 146 lines of backtrace)")

    (folder / "empty_folder").mkdir(exist_ok=True)
    cases.append(Case("empty_folder", folder / "empty_folder", False, "folder|No image files found", "a directory"))
    loop = folder / "loop.dcm"
    if not loop.is_symlink():
        loop.symlink_to(loop.name)
    cases.append(Case("loop.dcm", loop, False, "circular symbolic link", "symlink pointing at itself"))
    fifo = folder / "fifo.dcm"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("fifo.dcm", fifo, False, "not a regular file", "named pipe: opening it would block"))

    g16 = folder / "grey16.png"
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)).save(g16)
    good("grey16.png", g16, note="16-bit grey PNG")
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 3] = 200, np.arange(48, dtype=np.uint8)[None, :] * 5, 128
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    good("rgba.png", folder / "rgba.png", "transparen", "RGBA PNG with half-transparent pixels")
    Image.fromarray(np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))).convert("P").save(folder / "palette.png")
    good("palette.png", folder / "palette.png", note="palette PNG")
    good("ct_slice.dcm", _copy(dicom_dir / CT_SLICE, folder / "ct_slice.dcm"), "CT image",
         "a real CT slice: loads with a wrong-modality warning")
    good("truncated_padding.dcm", _write(folder, "truncated_padding.dcm", native_blob[:-1]), "MR image",
         "only the trailing padding element after the pixel data is cut: nothing of the image is lost")
    good("jpeg_cut_short.dcm", _write(folder, "jpeg_cut_short.dcm", codestream_cut_short(dicom_dir / SMALL_JPEG)),
         "decoder reported damaged data", "JPEG codestream cut in half inside an intact DICOM: loads, flagged damaged, "
         "and libjpeg's complaint stays off the terminal")
    good("deflated.dcm", _write(folder, "deflated.dcm", deflated_copy(native)), "MR image",
         "a legitimate deflated file: the bomb guard must let it through")
    return cases


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _rle_overrun(blob: bytes) -> bytes:
    """An RLE file whose first segment decodes to far more bytes than Rows × Columns.

    The RLE header (segment count, 15 offsets; 64 bytes) opens the first fragment and segment 1 follows it.
    Rewriting that segment as back-to-back replicate runs (header byte 0x81 = "repeat the next byte 128 times")
    turns every 2 input bytes into 128 output bytes, so the decoder writes past the end of its buffer.
    """
    at = blob.rfind(b"\xe0\x7f\x10\x00")
    item = blob.find(b"\xfe\xff\x00\xe0", blob.find(b"\xfe\xff\x00\xe0", at) + 8)  # the first fragment (after the BOT)
    header = item + 8
    (segments,) = struct.unpack("<I", blob[header : header + 4])
    first = header + struct.unpack("<I", blob[header + 4 : header + 8])[0]
    end = header + (struct.unpack("<I", blob[header + 8 : header + 12])[0] if segments > 1 else len(blob) - header)
    data = bytearray(blob)
    pos = first
    while pos + 2 <= end:
        data[pos] = 0x81
        pos += 2
    return bytes(data)


if __name__ == "__main__":  # python tests/bad_inputs.py OUT_DIR [DICOM_DIR]
    out = Path(sys.argv[1])
    dicom = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"
    for case in build_corpus(out, dicom):
        print(f"{'LOADS ' if case.loads else 'REFUSE'} {case.name:28s} {case.note}")
