"""Mask inspection: pure image functions behind the dashboard's Mask inspector and Tuning pages.

Overlays, the "uncertain band" of a matte (pixels that are neither clearly subject nor clearly
background), histograms, 100 % zoom crops, cheap preview copies and before/after difference maps.
Every function takes numpy arrays (photos uint8 HxWx3, mattes float32 HxW in [0, 1]), returns a new
array and never modifies its inputs; bad inputs raise ``SettingsError``.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from core.arrays import as_alpha, check_alpha_matches, check_fraction, check_image, check_pixels, check_size
from core.composite import check_color, to_uint8
from core.errors import SettingsError

__all__ = [
    "HEAT_DIM",
    "HEAT_FLOOR",
    "UNCERTAIN_HIGH",
    "UNCERTAIN_LOW",
    "alpha_histogram",
    "difference_map",
    "mark_region",
    "mask_overlay",
    "preview_copy",
    "resize_alpha",
    "uncertain_fraction",
    "uncertainty_band",
    "uncertainty_heatmap",
    "view_crop",
    "zoom_crop",
]

#: Alpha values strictly between these bounds count as "uncertain" (neither subject nor background).
UNCERTAIN_LOW, UNCERTAIN_HIGH = 0.05, 0.95

#: Brightness of the greyed photo under the uncertainty heat map (0.4 = 40 %).
HEAT_DIM = 0.4
#: Colour-map level of the least uncertain band pixel, so even the band's rim is clearly visible.
HEAT_FLOOR = 0.25

_PREVIEW_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


# ------------------------------------------------------------------------------------ validation


def _check_band(low: Any, high: Any) -> tuple[np.float32, np.float32]:
    lo = check_fraction(low, "low")
    hi = check_fraction(high, "high")
    if lo >= hi:
        raise SettingsError(
            f"The uncertain band needs low < high, got low={lo} and high={hi}; "
            f"e.g. low={UNCERTAIN_LOW}, high={UNCERTAIN_HIGH}."
        )
    # Compare in float32, the matte's dtype, so 0.05 in the matte is exactly on the bound.
    return np.float32(lo), np.float32(hi)


def _check_any_image(image: Any, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise SettingsError(f"{name} must be a numpy array (HxW or HxWxC), got {type(image).__name__}.")
    if image.ndim not in (2, 3):
        raise SettingsError(f"{name} must be an HxW or HxWxC array, got shape {image.shape}.")
    if image.shape[0] == 0 or image.shape[1] == 0 or (image.ndim == 3 and image.shape[2] == 0):
        raise SettingsError(f"{name} is empty (shape {image.shape}); pass a non-empty image.")
    return image


# -------------------------------------------------------------------------------------- overlays


def mask_overlay(
    image_rgb: np.ndarray,
    alpha: np.ndarray,
    color: tuple[int, int, int] = (255, 0, 80),
    opacity: float = 0.5,
) -> np.ndarray:
    """image uint8 HxWx3, alpha float32 HxW in [0, 1] -> uint8 HxWx3 with color over the background, amount opacity*(1-alpha)."""
    img = check_image(image_rgb, "image_rgb")
    a = check_alpha_matches(alpha, img)
    rgb = np.array(check_color(color), dtype=np.float32)
    op = check_fraction(opacity, "opacity")
    amount = (np.float32(op) * (np.float32(1.0) - a))[..., None]
    out = img.astype(np.float32) * (np.float32(1.0) - amount) + rgb * amount
    return to_uint8(out)


def uncertainty_band(alpha: np.ndarray, low: float = UNCERTAIN_LOW, high: float = UNCERTAIN_HIGH) -> np.ndarray:
    """alpha float32 HxW in [0, 1] -> bool HxW, True where low < alpha < high (compared in float32)."""
    a = as_alpha(alpha)
    lo, hi = _check_band(low, high)
    return (a > lo) & (a < hi)


def uncertain_fraction(alpha: np.ndarray, low: float = UNCERTAIN_LOW, high: float = UNCERTAIN_HIGH) -> float:
    """alpha float32 HxW in [0, 1] -> float in [0, 1]: fraction of pixels with low < alpha < high."""
    band = uncertainty_band(alpha, low, high)
    return float(np.count_nonzero(band)) / band.size


def uncertainty_heatmap(
    image_rgb: np.ndarray,
    alpha: np.ndarray,
    low: float = UNCERTAIN_LOW,
    high: float = UNCERTAIN_HIGH,
) -> np.ndarray:
    """image uint8 HxWx3, alpha float32 HxW -> uint8 HxWx3: photo as grey at HEAT_DIM brightness, band in inferno heat colours.

    Outside the band each pixel is the luminance (cv2 RGB2GRAY) times HEAT_DIM, round half down,
    in all three channels. Inside it, u = 1 - |2*alpha - 1| (1 at alpha 0.5) picks the colour
    cv2.COLORMAP_INFERNO level 255*(HEAT_FLOOR + (1 - HEAT_FLOOR)*u): brighter = more uncertain.
    """
    img = check_image(image_rgb, "image_rgb")
    a = check_alpha_matches(alpha, img)
    band = uncertainty_band(a, low, high)
    grey = to_uint8(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(HEAT_DIM))
    out = np.repeat(grey[..., None], 3, axis=2)
    if np.any(band):
        u = np.float32(1.0) - np.abs(np.float32(2.0) * a - np.float32(1.0))
        level = to_uint8(np.float32(255.0) * (np.float32(HEAT_FLOOR) + np.float32(1.0 - HEAT_FLOOR) * u))
        heat = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        out[band] = heat[band]
    return out


def difference_map(alpha_a: np.ndarray, alpha_b: np.ndarray) -> np.ndarray:
    """two float32 HxW mattes in [0, 1] -> uint8 HxWx3: green = 255*(b-a) where b > a, magenta = 255*(a-b) where b < a, black where equal."""
    a = as_alpha(alpha_a, "alpha_a")
    b = as_alpha(alpha_b, "alpha_b")
    if a.shape != b.shape:
        raise SettingsError(
            f"alpha_a has shape {a.shape} but alpha_b has shape {b.shape}; "
            f"resize one to the other first (resize_alpha)."
        )
    d = b - a
    added = np.clip(d, 0.0, 1.0) * np.float32(255.0)
    removed = np.clip(-d, 0.0, 1.0) * np.float32(255.0)
    return to_uint8(np.stack([removed, added, removed], axis=2))


# ----------------------------------------------------------------------------------- statistics


def alpha_histogram(alpha: np.ndarray, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """alpha float32 HxW in [0, 1] -> (counts int64 [bins], bin_edges float64 [bins+1]) over [0, 1]; last bin includes 1."""
    a = as_alpha(alpha)
    n = check_pixels(bins, "bins")
    counts, edges = np.histogram(a.astype(np.float64), bins=n, range=(0.0, 1.0))
    return counts.astype(np.int64), edges.astype(np.float64)


# ------------------------------------------------------------------------------ zoom and preview


def zoom_crop(
    image: np.ndarray, center: tuple[float, float], size: int = 256
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """HxW or HxWxC array, center (fy, fx) fractions in [0, 1] -> (copy of a size x size 100 % crop, (y0, y1, x0, x1)).

    The crop is min(size, H) x min(size, W), starts at round-half-up(fy*H - crop_h/2) (likewise for
    x) and is shifted to stay inside the image; y1 and x1 are exclusive.
    """
    img = _check_any_image(image, "image")
    if not isinstance(center, (tuple, list, np.ndarray)) or len(center) != 2:
        raise SettingsError(f"center must be (fy, fx), fractions of height and width in [0, 1], got {center!r}.")
    fy = check_fraction(center[0], "center fy")
    fx = check_fraction(center[1], "center fx")
    s = check_pixels(size, "size")
    h, w = img.shape[:2]
    ch, cw = min(s, h), min(s, w)
    y0 = min(max(math.floor(fy * h - ch / 2.0 + 0.5), 0), h - ch)
    x0 = min(max(math.floor(fx * w - cw / 2.0 + 0.5), 0), w - cw)
    box = (int(y0), int(y0 + ch), int(x0), int(x0 + cw))
    crop = np.array(img[box[0] : box[1], box[2] : box[3]], copy=True)
    return crop, box


def mark_region(
    image_rgb: np.ndarray,
    box: tuple[int, int, int, int],
    color: tuple[int, int, int] = (255, 215, 0),
    thickness: int | None = None,
) -> np.ndarray:
    """image uint8 HxWx3, box (y0, y1, x0, x1) with y1, x1 exclusive -> uint8 HxWx3 copy with a frame around the box.

    The frame is `thickness` px wide (default max(2, round(0.004 * long side))) and lies just outside
    the box, so the region stays visible; where the box touches the image border the frame is
    shifted inwards to stay in the image.
    """
    img = check_image(image_rgb, "image_rgb")
    h, w = img.shape[:2]
    if (
        not isinstance(box, (tuple, list))
        or len(box) != 4
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in box)
    ):
        raise SettingsError(f"box must be (y0, y1, x0, x1) in whole pixels, got {box!r}.")
    y0, y1, x0, x1 = (int(v) for v in box)
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise SettingsError(
            f"box {box!r} is not inside the {h}x{w} image; need 0 <= y0 < y1 <= {h} and 0 <= x0 < x1 <= {w}."
        )
    rgb = np.array(check_color(color), dtype=np.uint8)
    t = max(2, round(0.004 * max(h, w))) if thickness is None else check_pixels(thickness, "thickness")
    ty, tx = min(t, h), min(t, w)
    out = img.copy()
    top = min(max(y0 - ty, 0), h - ty)
    bottom = min(max(y1, 0), h - ty)
    left = min(max(x0 - tx, 0), w - tx)
    right = min(max(x1, 0), w - tx)
    rows = slice(max(y0 - ty, 0), min(y1 + ty, h))
    cols = slice(max(x0 - tx, 0), min(x1 + tx, w))
    out[top : top + ty, cols] = rgb
    out[bottom : bottom + ty, cols] = rgb
    out[rows, left : left + tx] = rgb
    out[rows, right : right + tx] = rgb
    return out


#: Long side of the preview copy that live tuning refines (the dashboard and the speed benchmark use it).
PREVIEW_SIDE = 1280


def preview_copy(image: np.ndarray, max_side: int = PREVIEW_SIDE) -> np.ndarray:
    """uint8/uint16/float32/float64 HxW or HxWxC -> same dtype and channels, long side <= max_side (INTER_AREA), aspect kept."""
    img = _check_any_image(image, "image")
    if img.dtype not in _PREVIEW_DTYPES:
        raise SettingsError(
            f"image must have dtype uint8, uint16, float32 or float64, got {img.dtype}."
        )
    m = check_pixels(max_side, "max_side")
    h, w = img.shape[:2]
    long_side = max(h, w)
    if long_side <= m:
        return img.copy()
    # Integer round-half-up of side * m / long_side, so 3000 * 1280 / 4000 is exactly 960.
    new_h = max(1, (2 * h * m + long_side) // (2 * long_side))
    new_w = max(1, (2 * w * m + long_side) // (2 * long_side))
    out = cv2.resize(np.ascontiguousarray(img), (new_w, new_h), interpolation=cv2.INTER_AREA)
    return out.reshape((new_h, new_w) + img.shape[2:])


def resize_alpha(alpha: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """alpha float32 HxW in [0, 1], shape (H, W) -> float32 HxW in [0, 1]; INTER_AREA if neither side grows, else INTER_LINEAR."""
    a = as_alpha(alpha)
    try:
        H, W = check_size(shape)
    except SettingsError:
        raise SettingsError(f"shape must be (height, width) in whole pixels >= 1, got {shape!r}.") from None
    h, w = a.shape
    if (H, W) == (h, w):
        return a
    interp = cv2.INTER_AREA if (H <= h and W <= w) else cv2.INTER_LINEAR
    out = cv2.resize(a, (W, H), interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def view_crop(
    image: np.ndarray, alpha: np.ndarray, box: tuple[float, float, float, float], pixels: tuple[int, int]
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[float, float, float, float]]:
    """The part of a photo (uint8 HxWx3) and its matte (float32 HxW) inside `box` (x0, y0, x1, y1 as fractions of
    the width and height), at its own pixels or shrunk to fit `pixels` (w, h) on screen, whichever is smaller;
    and the box of the whole pixels taken, as fractions."""
    img = check_image(image, "image")
    a = check_alpha_matches(alpha, img)
    height, width = img.shape[:2]
    x0, y0 = math.floor(check_fraction(box[0], "x0") * width), math.floor(check_fraction(box[1], "y0") * height)
    x1 = max(x0 + 1, math.ceil(check_fraction(box[2], "x1") * width))
    y1 = max(y0 + 1, math.ceil(check_fraction(box[3], "y1") * height))
    crop, crop_alpha = img[y0:y1, x0:x1], a[y0:y1, x0:x1]
    screen_w, screen_h = check_pixels(pixels[0], "width"), check_pixels(pixels[1], "height")
    scale = min(1.0, screen_w / crop.shape[1], screen_h / crop.shape[0])
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        crop_alpha = cv2.resize(crop_alpha, size, interpolation=cv2.INTER_AREA)
    return (np.ascontiguousarray(crop), np.ascontiguousarray(crop_alpha)), (x0 / width, y0 / height, x1 / width, y1 / height)
