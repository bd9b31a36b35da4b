"""Cheap pre-decode checks on compressed DICOM pixel data, so that a hostile or damaged file cannot make a
native decoder allocate gigabytes.

A JPEG, JPEG-LS or JPEG 2000 frame carries its own image size in its header (SOFn / SOF55 / SIZ). The decoders
trust that size, not the DICOM Rows/Columns: a 6 KB JPEG 2000 frame whose SIZ says 40,000 × 40,000 made
openjpeg reserve > 3 GB before failing. We read that size (a few bytes) and refuse the frame when it disagrees
with the header, or when a frame would inflate by more than :data:`MAX_RATIO` (a real radiograph never
compresses 1000:1; a decompression bomb always does). Deflated transfer syntax (zlib over the whole data set)
gets the same treatment by :func:`inflated_size_exceeds`, which streams the data through zlib without keeping it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

# Decoded bytes per compressed byte above which a large frame is refused as a decompression bomb. Lossless
# radiographs compress ~2-4:1 and lossy ones ~10-50:1; 1000:1 is only reached by (near-)empty pictures.
MAX_RATIO = 1000
# Frames whose decoded size is below this are never refused for their ratio (tiny test patterns compress well).
RATIO_EXEMPT_BYTES = 16 << 20

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}  # + SOF55 (JPEG-LS)


@dataclass(frozen=True)
class DeclaredSize:
    """What a compressed frame's own header says it decodes to."""

    width: int
    height: int
    components: int


def _jpeg_size(frame: bytes) -> DeclaredSize | None:
    """Image size from the first SOFn (JPEG) or SOF55 (JPEG-LS) segment, skipping the segments before it."""
    offset, end = 2, min(len(frame), 1 << 20)  # headers live in the first few KB; do not walk megabytes
    while offset + 4 <= end:
        if frame[offset] != 0xFF:
            return None
        marker = frame[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _JPEG_SOF:
            if offset + 10 > len(frame):
                return None
            height, width = struct.unpack(">HH", frame[offset + 5 : offset + 9])
            return DeclaredSize(width, height, frame[offset + 9])
        (length,) = struct.unpack(">H", frame[offset + 2 : offset + 4])
        if length < 2:
            return None
        offset += 2 + length
    return None


def _j2k_size(frame: bytes) -> DeclaredSize | None:
    """Image size from the SIZ segment (ISO/IEC 15444-1 A.5.1), inside a JP2 box wrapper when there is one."""
    offset = 0
    if frame.startswith(b"\x00\x00\x00\x0cjP  "):
        offset = frame.find(b"jp2c")
        if offset < 0:
            return None
        offset += 4
    if frame[offset : offset + 4] != b"\xff\x4f\xff\x51" or len(frame) < offset + 42:
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", frame[offset + 8 : offset + 24])
    (csiz,) = struct.unpack(">H", frame[offset + 40 : offset + 42])
    return DeclaredSize(max(0, xsiz - xosiz), max(0, ysiz - yosiz), csiz)


def declared_size(frame: bytes) -> DeclaredSize | None:
    """The size a JPEG / JPEG-LS / JPEG 2000 frame declares, or None for other codecs (RLE, unknown)."""
    if frame.startswith(b"\xff\xd8"):
        return _jpeg_size(frame)
    return _j2k_size(frame)


def inflated_size_exceeds(fh: BinaryIO, limit: int) -> bool:
    """True when the raw-deflate stream read from ``fh`` inflates to more than ``limit`` bytes.

    The output is counted and dropped chunk by chunk (``max_length`` keeps each chunk small), so memory stays
    at a few MB whatever the stream claims; a damaged stream simply stops counting and is left to the parser.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        while chunk := fh.read(1 << 20):
            data = chunk
            while data:
                total += len(inflater.decompress(data, 1 << 22))
                if total > limit:
                    return True
                data = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        return False
    return False
