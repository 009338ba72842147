"""Harmonisation: make a cut-out subject look lit by its new background.

Two optional, independent steps, both pure functions that never modify their inputs:

* ``harmonize`` nudges the subject's colour statistics (mean and spread per channel, in CIE Lab)
  toward those of the new background. It returns a new FOREGROUND image, to be composited with
  ``core.composite.blend`` afterwards; only pixels with alpha > 0 show in the result.
* ``light_wrap`` lets a soft band of the new background's light fall over the inside of the
  subject's edge of an already blended composite (a screen blend, so it can only brighten).

Typical use::

    bg = cover_fit(new_background, image.shape[:2])
    fg = harmonize(image, alpha, bg, strength=0.5)
    out = light_wrap(blend(fg, alpha, bg), alpha, bg, radius_pct=1.0, strength=0.3)

Both have a strength in [0, 1]; strength 0 returns an exact copy of the input image.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from core.composite import (
    BLUR_LOWRES_SIGMA,
    blurred_background,
    to_uint8,
)
from core.errors import SettingsError
from core.arrays import check_alpha_matches, check_image, pixels_from_pct

__all__ = ["harmonize", "light_wrap"]

#: Per-pixel steps work in row bands of about this many pixels to bound float temporaries.
_BAND_PIXELS = 1 << 20

#: At strength 1 the subject's Lab mean moves this fraction of the way to the background's mean
#: (L, a, b): lightness is matched less than colour cast, so a dark plate does not make a face murky.
_MEAN_FRACTION = np.array([0.5, 0.7, 0.7], np.float64)
#: ...and never by more than this many Lab units per channel (L, a, b) at strength 1: a tint, not a
#: recolouring, even on a saturated backdrop (pure blue is ~108 units from grey in b).
_MEAN_CAP = np.array([20.0, 15.0, 15.0], np.float64)
#: At strength 1 the spread (std) of each Lab channel is scaled by the background's/subject's std
#: ratio, clipped to this range; the ratio is regularised by _STD_REG Lab units so a flat channel
#: (std ~ 0, e.g. a grey subject's a/b) gives a ratio near 1 instead of dividing by zero.
_STD_RATIO_RANGE = (0.7, 1.4)
_STD_REG = 1.0


# ------------------------------------------------------------------------------------ validation


def _check_strength(strength: Any, name: str = "strength") -> float:
    if isinstance(strength, (bool, np.bool_)) or not isinstance(strength, (int, float, np.integer, np.floating)):
        raise SettingsError(f"{name} must be a number from 0 (off) to 1 (full), got {strength!r}.")
    s = float(strength)
    if not (math.isfinite(s) and 0.0 <= s <= 1.0):
        raise SettingsError(f"{name} must be from 0 (off) to 1 (full), got {strength!r}.")
    return s


def _check_same_size(image: np.ndarray, background: np.ndarray, name: str) -> None:
    if image.shape != background.shape:
        raise SettingsError(
            f"{name} {image.shape} and background {background.shape} differ in size; "
            f"fit the background first with cover_fit(background, {name}.shape[:2])."
        )


def _bands(h: int, w: int) -> list[slice]:
    rows = max(1, _BAND_PIXELS // max(w, 1))
    return [slice(top, top + rows) for top in range(0, h, rows)]


# ----------------------------------------------------------------------------------- harmonize


def _to_lab(rgb_u8: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB -> float32 HxWx3 Lab (L 0..100, a/b about -128..127)."""
    return cv2.cvtColor(rgb_u8.astype(np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_RGB2Lab)


def _to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 HxWx3 Lab -> float32 HxWx3 RGB on the 0..255 scale (not clipped: may leave the gamut)."""
    return cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB) * np.float32(255.0)


def _weighted_stats(image: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Lab mean (3,), std (3,) and total weight of a uint8 RGB image under an HxW weight (float64 sums)."""
    s1 = np.zeros(3, np.float64)
    s2 = np.zeros(3, np.float64)
    total = 0.0
    for band in _bands(*image.shape[:2]):
        lab = _to_lab(image[band]).reshape(-1, 3).astype(np.float64)
        wb = weight[band].reshape(-1).astype(np.float64)
        s1 += wb @ lab
        s2 += wb @ (lab * lab)
        total += float(wb.sum())
    if total <= 0.0:
        return np.zeros(3), np.zeros(3), 0.0
    mean = s1 / total
    var = np.maximum(s2 / total - mean * mean, 0.0)
    return mean, np.sqrt(var), total


def harmonize(
    foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray, strength: float = 0.5
) -> np.ndarray:
    """fg uint8 HxWx3, alpha float32 HxW in [0, 1], bg uint8 HxWx3, strength in [0, 1] -> uint8 HxWx3 new fg.

    Per Lab channel c, with the subject's statistics mu_f, sd_f weighted by alpha and the new
    background's mu_b, sd_b weighted by 1 - alpha (the part of the plate that stays visible around
    the subject; all of the plate, unweighted, if the subject covers the whole frame):
        lab'  = (lab - mu_f) * k + mu_f + d
        k     = 1 + s * (clip((sd_b + 1) / (sd_f + 1), 0.7, 1.4) - 1)
        d     = s * clip(f_c * (mu_b - mu_f), -cap_c, cap_c),   f = (0.5, 0.7, 0.7), cap = (20, 15, 15)
    for L, a, b (Lab units; L 0..100). The change is applied as an RGB delta,
    fg + RGB(lab') - RGB(lab), so the Lab round trip adds no error of its own. Every pixel of the
    returned foreground is recoloured; composite it with alpha afterwards (alpha 0 pixels do not show).
    strength 0 (or a matte with no subject, sum(alpha) < 1 px) returns an exact copy of foreground.
    """
    fg = check_image(foreground, "foreground")
    bg = check_image(background, "background")
    _check_same_size(fg, bg, "foreground")
    a = check_alpha_matches(alpha, fg)
    s = _check_strength(strength)
    if s == 0.0:
        return fg.copy()

    mu_f, sd_f, total_f = _weighted_stats(fg, a)
    if total_f < 1.0:
        return fg.copy()
    mu_b, sd_b, total_b = _weighted_stats(bg, np.float32(1.0) - a)
    if total_b < 1.0:
        mu_b, sd_b, _ = _weighted_stats(bg, np.ones_like(a))

    lo, hi = _STD_RATIO_RANGE
    ratio = np.clip((sd_b + _STD_REG) / (sd_f + _STD_REG), lo, hi)
    scale = (1.0 + s * (ratio - 1.0)).astype(np.float32)
    shift = (s * np.clip(_MEAN_FRACTION * (mu_b - mu_f), -_MEAN_CAP, _MEAN_CAP)).astype(np.float32)
    centre = mu_f.astype(np.float32)

    out = np.empty_like(fg)
    for band in _bands(*fg.shape[:2]):
        lab = _to_lab(fg[band])
        new = (lab - centre) * scale + centre + shift
        np.clip(new[..., 0], 0.0, 100.0, out=new[..., 0])
        delta = _to_rgb(new) - _to_rgb(lab)
        out[band] = to_uint8(fg[band].astype(np.float32) + delta)
    return out


# ---------------------------------------------------------------------------------- light wrap


def _blur_alpha(alpha: np.ndarray, sigma_px: float) -> np.ndarray:
    """float32 HxW -> float32 HxW Gaussian blur (BORDER_REPLICATE), on a downscaled copy for a large sigma."""
    h, w = alpha.shape
    if sigma_px <= BLUR_LOWRES_SIGMA:
        return cv2.GaussianBlur(alpha, (0, 0), sigma_px, sigma_px, borderType=cv2.BORDER_REPLICATE)
    f = BLUR_LOWRES_SIGMA / sigma_px
    lh, lw = max(1, round(h * f)), max(1, round(w * f))
    small = cv2.resize(alpha, (lw, lh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px * lw / w, sigma_px * lh / h, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def light_wrap(
    composite: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray,
    radius_pct: float = 1.0,
    strength: float = 0.3,
) -> np.ndarray:
    """composite uint8 HxWx3, alpha float32 HxW in [0, 1], bg uint8 HxWx3 -> uint8 HxWx3 with edge light wrap.

    With G a Gaussian of sigma = radius/2 (radius = radius_pct % of the long side), in [0, 1] units:
        wrap  = alpha * (1 - G(alpha))                     soft band just inside the subject's edge
        light = G(bg * (1 - alpha)) / G(1 - alpha)         blurred new background, subject excluded
                                                           (core.composite.blurred_background)
        out   = c + strength * wrap * (screen(c, light) - c),   screen(c, l) = 1 - (1 - c)(1 - l)
    Most of the light lands within about one radius of the edge; pixels more than 2 radii (4 sigma,
    where the Gaussian is cut off) inside the subject and every pixel with alpha 0 are returned
    unchanged, and so is everything at strength 0. Screen only brightens, so out >= composite.
    """
    comp = check_image(composite, "composite")
    bg = check_image(background, "background")
    _check_same_size(comp, bg, "composite")
    a = check_alpha_matches(alpha, comp)
    if isinstance(radius_pct, (bool, np.bool_)) or not isinstance(
        radius_pct, (int, float, np.integer, np.floating)
    ) or not (math.isfinite(float(radius_pct)) and 0.0 < float(radius_pct) <= 50.0):
        raise SettingsError(f"Light-wrap radius must be in (0, 50] % of the long side, got {radius_pct!r}.")
    s = _check_strength(strength)
    if s == 0.0:
        return comp.copy()

    sigma_pct = float(radius_pct) / 2.0
    wrap = a * (np.float32(1.0) - np.minimum(_blur_alpha(a, pixels_from_pct(sigma_pct, comp.shape)), 1.0))
    wrap *= np.float32(s)
    light = blurred_background(bg, a, sigma_pct)

    out = np.empty_like(comp)
    for band in _bands(*comp.shape[:2]):
        c = comp[band].astype(np.float32)
        lt = light[band].astype(np.float32)
        # screen(c, l) - c = l * (1 - c) in [0, 1] units; on the 0..255 scale: l * (255 - c) / 255.
        # Written as an increment so that where wrap is 0 the result is c exactly.
        gain = lt * (np.float32(255.0) - c) * np.float32(1.0 / 255.0)
        out[band] = to_uint8(c + wrap[band][..., None] * gain)
    return out
