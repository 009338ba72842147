"""The odd-and-bad input corpus of the robustness tests, generated in memory (no files are checked in).

Each `Sample` is the bytes of one file, the name it is saved under, and what Portrait Studio must do
with it: decode it to `shape` (the upright height and width a photo viewer shows) with some `notes`,
or refuse it with `error` whose message contains every word of `what` (what was wrong) and `todo`
(what to do). The pixel generators are shared with tests/test_imageio.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image

from core.errors import ImageDecodeError, ImageTooLargeError, PortraitStudioError
from tests.image_support import (
    BLUE,
    EXIF_SIDES,
    GREEN,
    RED,
    YELLOW,
    noise,
    png_header_only,
    save,
    swapped_primaries_icc,
    viewer_shows,
)

HUGE_SIDE = 50_000
CORNER = 12  # side of the coloured marker block in the EXIF pictures' stored top-left corner
MARKER = np.array(RED)


@dataclass(frozen=True)
class Sample:
    """One corpus file and what must come out of it."""

    name: str  # file name, with the suffix a user would give it
    data: bytes
    shape: tuple[int, int] | None = None  # upright (height, width) for a good file
    notes: tuple[str, ...] = ()  # substrings of decode notes a good file must produce
    error: type[PortraitStudioError] | None = None  # the error a bad file must raise
    what: tuple[str, ...] = ()  # words of the message saying what was wrong
    todo: tuple[str, ...] = ()  # words of the message saying what to do
    upload_name: str | None = None  # name on the dashboard when the uploader refuses `name`'s suffix
    checks: dict = field(default_factory=dict, compare=False)  # extra pixel facts, see the tests

    @property
    def good(self) -> bool:
        return self.error is None

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0]

    def __repr__(self) -> str:  # short ids in pytest output
        return f"Sample({self.name})"


def portrait(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A light backdrop with a dark head-and-shoulders blob and mild noise, uint8 HxWx3."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), np.float32)
    image[...] = (150, 190, 220)
    head = ((xx - width / 2) / (width * 0.2)) ** 2 + ((yy - height * 0.38) / (height * 0.18)) ** 2 <= 1
    body = (yy > height * 0.6) & (np.abs(xx - width / 2) < (yy - height * 0.5) * 0.9)
    image[head] = (210, 160, 130)
    image[body] = (40, 40, 60)
    image += np.random.default_rng(seed).normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def exif_stored(height: int = 48, width: int = 72) -> np.ndarray:
    """A landscape picture as stored: a red CORNERxCORNER block in the stored top-left corner."""
    stored = portrait(height, width, seed=11)
    stored[:CORNER, :CORNER] = MARKER
    return stored


def marker_corner(shown: np.ndarray) -> str:
    """Which corner of a displayed picture holds the red marker block: 'tl', 'tr', 'bl' or 'br'."""
    h, w = shown.shape[:2]
    m = CORNER // 2
    corners = {"tl": shown[:m, :m], "tr": shown[:m, w - m:], "bl": shown[h - m:, :m], "br": shown[h - m:, w - m:]}
    distance = {k: float(np.abs(v[..., :3].reshape(-1, 3).astype(int) - MARKER).mean()) for k, v in corners.items()}
    return min(distance, key=distance.get)


def _exif_sample(orientation: int) -> Sample:
    stored = exif_stored()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(Image.fromarray(stored), "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    shown = viewer_shows(stored, orientation)
    notes = (f"turned upright using EXIF orientation {orientation}",) if orientation != 1 else ()
    return Sample(
        f"exif_{orientation}.jpg", data, shape=shown.shape[:2], notes=notes,
        checks={"corner": marker_corner(shown), "sides": EXIF_SIDES[orientation]},
    )


FIRST_FRAME = portrait(40, 32, seed=3)


def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(FIRST_FRAME)] + [Image.new("RGB", (32, 40), c) for c in (GREEN, BLUE)]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)


def _palette_with_transparency() -> bytes:
    """Palette PNG, 40x32: index 0 is fully transparent and fills the left quarter."""
    rgb = portrait(40, 32, seed=4)
    img = Image.fromarray(rgb).quantize(colors=16)
    idx = np.asarray(img).copy()
    idx[idx == 0] = 1  # index 0 only where we put it
    idx[:, :8] = 0
    out = Image.fromarray(idx, "P")
    out.putpalette(img.getpalette())
    return save(out, "PNG", transparency=0)


def _grey_alpha() -> bytes:
    """LA PNG, 40x32: the left quarter fully transparent, the rest opaque."""
    grey = np.asarray(Image.fromarray(portrait(40, 32, seed=5)).convert("L"))
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, :8] = 0
    return save(Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)]), "PNG")


GREY = np.asarray(Image.fromarray(portrait(40, 32, seed=6)).convert("L"))


def _sixteen_bit() -> bytes:
    """16-bit grey PNG holding GREY * 257, which reads back as exactly GREY."""
    img = Image.fromarray(GREY.astype(np.uint16) * 257)
    assert img.mode.startswith("I;16")
    return save(img, "PNG")


def _icc() -> bytes:
    """Stored red top half / blue bottom half in an RGB space whose red primary is sRGB's green."""
    arr = portrait(40, 32, seed=7)
    arr[:8] = RED
    arr[-8:] = BLUE
    return save(Image.fromarray(arr), "PNG", icc_profile=swapped_primaries_icc())


@lru_cache(maxsize=1)
def build_corpus() -> tuple[Sample, ...]:
    """Every corpus file, good ones first."""
    jpeg = save(Image.fromarray(noise(64, 64, seed=7)), "JPEG", quality=90)
    png = save(Image.fromarray(noise(64, 64, seed=7)), "PNG")
    cmyk_source = portrait(40, 32, seed=8)
    strip = portrait(20, 1000, seed=9)  # 50:1, the widest accepted (core.limits.MAX_ASPECT_RATIO)
    good = [
        Sample("one_pixel.png", save(Image.new("RGB", (1, 1), (200, 120, 90)), "PNG"), shape=(1, 1),
               checks={"rgb": np.array([[[200, 120, 90]]], np.uint8), "rgb_tol": 0}),
        Sample("strip.png", save(Image.fromarray(strip), "PNG"), shape=(20, 1000), checks={"rgb": strip, "rgb_tol": 0}),
        Sample("deep16.png", _sixteen_bit(), shape=(40, 32), notes=("16-bit image reduced to 8 bits",),
               checks={"rgb": np.repeat(GREY[..., None], 3, axis=2), "rgb_tol": 0}),
        Sample("cmyk.jpg", save(Image.fromarray(cmyk_source).convert("CMYK"), "JPEG", quality=95), shape=(40, 32),
               checks={"rgb": cmyk_source, "rgb_tol": 3}),
        Sample("palette.png", _palette_with_transparency(), shape=(40, 32), checks={"cut_columns": 8}),
        Sample("grey_alpha.png", _grey_alpha(), shape=(40, 32), checks={"cut_columns": 8}),
        # A GIF renamed .png: Portrait Studio reads files by their content, not their name.
        Sample("anim_gif.gif", _animated("GIF"), shape=(40, 32), notes=("animated GIF: used the first of 3 frames",),
               upload_name="anim_gif.png", checks={"rgb": FIRST_FRAME, "rgb_tol": 2}),
        Sample("anim_webp.webp", _animated("WEBP"), shape=(40, 32), notes=("animated WEBP: used the first of 3 frames",),
               checks={"rgb": FIRST_FRAME, "rgb_tol": 0}),
        *(_exif_sample(o) for o in range(1, 9)),
        Sample("icc.png", _icc(), shape=(40, 32), notes=("converted embedded ICC profile 'Swap", "to sRGB"),
               checks={"top": GREEN, "bottom": BLUE}),
    ]
    bad = [
        Sample("empty.jpg", b"", error=ImageDecodeError, what=("empty", "0 bytes"), todo=("choose the image again", "re-export")),
        Sample("text.jpg", b"hello, this is a shopping list, not a photo\n" * 20, error=ImageDecodeError,
               what=("not an image", "supported"), todo=("Save it as JPEG or PNG",)),
        Sample("truncated_jpeg.jpg", jpeg[: len(jpeg) // 2], error=ImageDecodeError,
               what=("truncated or corrupt",), todo=("Re-export or re-download",)),
        Sample("truncated_png.png", png[: len(png) // 2], error=ImageDecodeError,
               what=("truncated or corrupt",), todo=("Re-export or re-download",)),
        Sample("huge_header.png", png_header_only(HUGE_SIDE, HUGE_SIDE), error=ImageTooLargeError,
               what=("too large", "50000x50000", "2500 MP", "limit of 100 MP"), todo=("Downscale",)),
        Sample("sliver.png", save(Image.fromarray(portrait(10, 10_000, seed=9)), "PNG"), error=ImageDecodeError,
               what=("10000x10 pixels", "1000:1", "up to 50:1"), todo=("Crop it",)),
    ]
    return tuple(good + bad)


def good_samples() -> list[Sample]:
    return [s for s in build_corpus() if s.good]


def bad_samples() -> list[Sample]:
    return [s for s in build_corpus() if not s.good]


__all__ = ["BLUE", "GREEN", "RED", "YELLOW", "Sample", "bad_samples", "build_corpus", "good_samples", "marker_corner"]
