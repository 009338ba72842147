"""Pixel limits for incoming photos: a soft limit (working resolution) and a hard limit (refusal).

- Above the **working** limit (default 4 MP) the mask is refined at that many pixels and scaled back up:
  the network sees 320×320 anyway, so nothing visible is lost (on a 12 MP photo: mean |Δα| 0.0002,
  3.6× faster than refining at full size), and a 50 MP photo stays fast and small.
- Above the **maximum** (default 100 MP) a photo is refused from its header, before any pixel is decoded,
  with a message naming the limit. Pillow's decompression-bomb guard is set to the same number.
- An aspect ratio above `MAX_ASPECT_RATIO` (50:1) is refused the same way, before any resampling.

Set them with the environment variables PORTRAIT_STUDIO_MAX_MEGAPIXELS and
PORTRAIT_STUDIO_WORKING_MEGAPIXELS (the dashboard), or `--max-megapixels` / `--working-megapixels`
(the command line), which call `set_pixel_limits`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PIL import Image

from core.errors import SettingsError

DEFAULT_MAX_MEGAPIXELS = 100.0
# Images longer than this many times their width (or wider than high) are refused from the header: a
# 20000×1 strip holds no person and no usable background, and scaling one to cover a photo costs gigabytes.
# Panoramas reach about 10:1.
MAX_ASPECT_RATIO = 50
DEFAULT_WORKING_MEGAPIXELS = 4.0
#: A photo file larger than this many bytes is refused before it is read or unpacked (photos are rarely over 50 MB).
MAX_PHOTO_BYTES = 200 << 20


@dataclass(frozen=True)
class PixelLimits:
    """max_pixels: refuse above this; working_pixels: refine at most this many pixels."""

    max_pixels: int
    working_pixels: int

    def __post_init__(self) -> None:
        if not 1 <= self.working_pixels <= self.max_pixels:
            raise SettingsError(
                f"Pixel limits must satisfy 1 <= working ({self.working_pixels}) <= maximum ({self.max_pixels})."
            )


def _megapixels(value: float | str, name: str) -> int:
    try:
        megapixels = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number of megapixels, got {value!r}.") from None
    if not 0 < megapixels <= 10_000:
        raise SettingsError(f"{name} must be between 0 and 10000 megapixels, got {megapixels}.")
    return int(megapixels * 1_000_000)


def set_pixel_limits(max_megapixels: float | None = None, working_megapixels: float | None = None) -> PixelLimits:
    """Change the limits for this process (None keeps the current value); returns the new limits."""
    global _current
    _current = PixelLimits(
        max_pixels=_current.max_pixels if max_megapixels is None else _megapixels(max_megapixels, "max megapixels"),
        working_pixels=(
            _current.working_pixels if working_megapixels is None else _megapixels(working_megapixels, "working megapixels")
        ),
    )
    Image.MAX_IMAGE_PIXELS = _current.max_pixels
    return _current


def pixel_limits() -> PixelLimits:
    """The limits in force."""
    return _current


_current = PixelLimits(_megapixels(DEFAULT_MAX_MEGAPIXELS, ""), _megapixels(DEFAULT_WORKING_MEGAPIXELS, ""))
set_pixel_limits(
    os.environ.get("PORTRAIT_STUDIO_MAX_MEGAPIXELS") or None,
    os.environ.get("PORTRAIT_STUDIO_WORKING_MEGAPIXELS") or None,
)
