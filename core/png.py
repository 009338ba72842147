"""PNG writing: every row with PNG's "Up" filter, deflated by the standard library's zlib.

Pillow's PNG writer picks a filter for each row by trying all five, which costs more than the deflate itself
at zlib level 1. One fixed filter, computed for the whole image at once with numpy, writes a 0.5 MP cut-out
in about half Pillow's time, and the file comes out slightly smaller: "Up" (each byte minus the byte above
it) turns the flat and smoothly shaded areas that cut-outs, masks and composites are made of into runs of
zeros (bench/results/png.md). The output is a plain 8-bit PNG (greyscale, RGB or RGBA, no interlace) that
every reader opens; Pillow reads it back pixel for pixel.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels → PNG colour type: greyscale, truecolour, truecolour with alpha
_UP = 2  # PNG filter type: each byte minus the one above it (modulo 256)
STRIP_BYTES = 8 << 20  # rows are filtered and deflated about this many bytes at a time (bounded memory)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray, level: int, dpi: tuple[float, float] | None = None) -> bytes:
    """uint8 HxW grey, HxWx3 RGB or HxWx4 RGBA → PNG bytes, deflated at zlib `level` (0-9); `dpi` (x, y) is
    stored as pixels per metre (pHYs), rounded as Pillow rounds it."""
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    flat = np.ascontiguousarray(image).reshape(height, width * channels)
    out = io.BytesIO()
    out.write(_SIGNATURE)
    out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)))
    if dpi is not None:
        out.write(_chunk(b"pHYs", struct.pack(">IIB", int(dpi[0] / 0.0254 + 0.5), int(dpi[1] / 0.0254 + 0.5), 1)))
    deflate = zlib.compressobj(level)
    step = max(1, STRIP_BYTES // (width * channels + 1))
    for top in range(0, height, step):
        rows = np.empty((min(step, height - top), width * channels + 1), np.uint8)
        rows[:, 0] = _UP
        if top == 0:
            rows[0, 1:] = flat[0]  # the row above the first is zeros
            np.subtract(flat[1:len(rows)], flat[:len(rows) - 1], out=rows[1:, 1:])
        else:
            np.subtract(flat[top:top + len(rows)], flat[top - 1:top + len(rows) - 1], out=rows[:, 1:])
        data = deflate.compress(rows)
        if data:
            out.write(_chunk(b"IDAT", data))
    out.write(_chunk(b"IDAT", deflate.flush()))
    out.write(_chunk(b"IEND", b""))
    return out.getvalue()
