"""core.png: the "Up"-filtered PNG writer, checked byte by byte on tiny images and read back by Pillow."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.png import encode_png


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_each_row_is_stored_as_up_filtered_bytes():
    image = np.array([[1, 2], [5, 3], [0, 200]], np.uint8)
    chunks = _chunks(encode_png(image, 1))
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds[1:-1]) == {b"IDAT"}
    assert chunks[0][1] == struct.pack(">IIBBBBB", 2, 3, 8, 0, 0, 0, 0)  # 2 × 3, 8 bits, greyscale
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    # filter byte 2 ("Up"), then each byte minus the one above it, modulo 256 (the first row: minus zeros)
    assert list(raw) == [2, 1, 2, 2, 4, 1, 2, 251, 197]


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (3, 1, 4), (7, 5), (61, 37, 3), (40, 29, 4)])
def test_pillow_reads_back_every_pixel(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    back = Image.open(io.BytesIO(encode_png(image, 1)))
    assert back.mode == {2: "L", 3: "RGB", 4: "RGBA"}[len(shape) if len(shape) == 2 else 3 + (shape[2] == 4)]
    np.testing.assert_array_equal(np.asarray(back), image)


def test_strips_join_into_the_same_image(monkeypatch):
    image = np.random.default_rng(3).integers(0, 256, (50, 9, 4), dtype=np.uint8)
    whole = encode_png(image, 6)
    monkeypatch.setattr("core.png.STRIP_BYTES", 100)  # 2 rows of 37 bytes a strip: 25 strips
    stripped = encode_png(image, 6)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(stripped))), image)
    assert zlib.decompress(b"".join(b for k, b in _chunks(whole) if k == b"IDAT")) == zlib.decompress(
        b"".join(b for k, b in _chunks(stripped) if k == b"IDAT"))


def test_dpi_is_stored_in_pixels_per_metre_as_pillow_does():
    image = np.zeros((2, 2, 3), np.uint8)
    physical = dict(_chunks(encode_png(image, 1, (300.0, 72.0))))[b"pHYs"]
    assert physical == struct.pack(">IIB", 11811, 2835, 1)  # int(300 / 0.0254 + 0.5), int(72 / 0.0254 + 0.5), metres
    assert Image.open(io.BytesIO(encode_png(image, 1, (300.0, 300.0)))).info["dpi"] == pytest.approx((300, 300), abs=1e-3)
    assert b"pHYs" not in dict(_chunks(encode_png(image, 1)))
