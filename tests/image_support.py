"""Test inputs built in memory for the image-decoding tests and the robustness corpus (no test functions here)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageCms

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def save(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height RGB but whose IDAT holds a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + png_chunk(b"IEND", b""))


def noise(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


# EXIF 2.3, tag 0x0112: the sides of the displayed picture on which the stored 0th row and 0th column lie.
EXIF_SIDES = {1: ("top", "left"), 2: ("top", "right"), 3: ("bottom", "right"), 4: ("bottom", "left"),
              5: ("left", "top"), 6: ("right", "top"), 7: ("right", "bottom"), 8: ("left", "bottom")}


def viewer_shows(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer displays, derived from the EXIF definition above (not from Pillow)."""
    row0, col0 = EXIF_SIDES[orientation]
    if row0 in ("left", "right"):  # stored rows become displayed columns
        shown = stored.transpose(1, 0, 2)
        if row0 == "right":
            shown = shown[:, ::-1]
        if col0 == "bottom":
            shown = shown[::-1]
    else:
        shown = stored
        if row0 == "bottom":
            shown = shown[::-1]
        if col0 == "right":
            shown = shown[:, ::-1]
    return shown


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def swapped_primaries_icc() -> bytes:
    """An RGB profile like sRGB but with the red and green primaries swapped, renamed so it is not 'sRGB'."""
    data = bytearray(srgb_icc())
    (count,) = struct.unpack(">I", data[128:132])
    tags = {}
    for i in range(count):
        pos = 132 + 12 * i
        tags[bytes(data[pos:pos + 4])] = pos
    r, g = tags[b"rXYZ"], tags[b"gXYZ"]
    data[r + 4:r + 12], data[g + 4:g + 12] = data[g + 4:g + 12], data[r + 4:r + 12]
    return bytes(data).replace("sRGB".encode("utf-16-be"), "Swap".encode("utf-16-be"))


def red_subject_blue_background(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A red left half (the subject, alpha 1) and a blue right half (background, alpha 0): uint8 HxWx3, float32 HxW."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (255, 0, 0)
    img[:, w // 2:] = (0, 0, 255)
    alpha = np.zeros((h, w), np.float32)
    alpha[:, : w // 2] = 1.0
    return img, alpha
