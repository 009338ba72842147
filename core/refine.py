"""Mask refinement: pure step functions on a float alpha matte and the settings that drive them.

Every function takes and returns ``alpha: float32 HxW in [0, 1]`` and never modifies its input.
Sizes that depend on resolution are stored in percent of the image's long side
(``pixels_from_pct``), so one setting means the same on a 600 px and on a 6000 px photo.
All filters use ``cv2.BORDER_REPLICATE``, so a subject that touches the frame is not eaten away at
the border.

``RefineSettings`` is the single source of defaults, ranges and help texts for the UI, the CLI and
the benchmarks; ``field_specs()`` describes its fields for building widgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.errors import SettingsError
from core.settings import Settings, bool_field, float_field

__all__ = [
    "RefineSettings",
    "apply_levels",
    "as_alpha",
    "bilateral_filter",
    "disk_kernel",
    "feather",
    "keep_main_subject",
    "kernel_size",
    "matte_edges",
    "morph_close",
    "morph_open",
    "pixels_from_pct",
    "refine",
    "snap_to_edges",
]

#: Largest bilateral window (pixels). Beyond sigma_space ~7.5 px the window, not sigma, limits reach.
MAX_BILATERAL_DIAMETER = 31

# Values this far outside [0, 1] (float round-off from upstream arithmetic) are clipped silently.
_RANGE_TOLERANCE = 1e-4


# --------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RefineSettings(Settings):
    """All mask-refinement parameters with their defaults; sizes are % of the image's long side."""

    edge_aware: bool = bool_field(
        False, "edge_aware",
        "Snap the mask's edge to the photo's own edges (guided filter) instead of the network's 320-pixel grid.",
    )
    edge_radius_pct: float = float_field(
        2.0, 0.1, 5.0, 0.05, "edge_aware",
        "Window of the edge snapping, in % of the long side: larger follows photo edges from further away.",
    )
    edge_smoothness: float = float_field(
        0.001, 0.0001, 0.05, 0.0001, "edge_aware",
        "Larger keeps the network's smooth edge; smaller follows fine photo detail such as hair.",
    )
    bilateral: bool = bool_field(
        False, "bilateral", "Smooth the mask edge while keeping it sharp (edge-preserving filter).",
    )
    bilateral_sigma_space_pct: float = float_field(
        0.5, 0.05, 5.0, 0.05, "bilateral",
        "Reach of the edge smoothing, in % of the long side: larger irons out bigger wiggles.",
    )
    bilateral_sigma_color: float = float_field(
        0.05, 0.01, 1.0, 0.01, "bilateral",
        "How different two alpha values may be and still be averaged: larger softens the edge more.",
    )
    levels: bool = bool_field(
        True, "levels", "Push almost-transparent and almost-opaque mask values to 0 and 1."
    )
    black_point: float = float_field(
        0.1, 0.0, 0.99, 0.01, "levels",
        "Mask values at or below this become fully transparent: raise it to drop faint haze.",
        basic="Drop faint haze around the person",
    )
    white_point: float = float_field(
        0.9, 0.01, 1.0, 0.01, "levels",
        "Mask values at or above this become fully opaque: lower it to make the subject solid.",
    )
    opening: bool = bool_field(
        True, "opening", "Remove small specks and thin spurs outside the subject (morphological opening)."
    )
    opening_size_pct: float = float_field(
        0.5, 0.1, 5.0, 0.05, "opening",
        "Specks and spurs thinner than this (% of the long side) are removed from the edge.",
    )
    closing: bool = bool_field(
        True, "closing", "Fill small holes and gaps inside the subject (morphological closing)."
    )
    closing_size_pct: float = float_field(
        1.0, 0.1, 5.0, 0.05, "closing",
        "Holes and notches narrower than this (% of the long side) are filled in.",
    )
    main_subject: bool = bool_field(
        True, "main_subject",
        "Keep only the main subject (and anyone about as big): drops stray objects the network picked up.",
    )
    feather: bool = bool_field(
        True, "feather", "Soften the final edge with a Gaussian blur so it blends into the background."
    )
    feather_sigma_pct: float = float_field(
        0.15, 0.0, 2.0, 0.01, "feather",
        "Width of the soft edge, in % of the long side: 0 keeps the edge hard.",
        basic="Edge softness",
    )
    matting: bool = bool_field(
        True, "matting",
        "Best edges (a little slower): re-solve the edge band from the photo's colours (closed-form matting) for "
        "hair and fuzzy edges; runs last and replaces the feathered edge inside the band.",
        basic="Best hair and edges (a little slower)",
    )
    matting_band_pct: float = float_field(
        1.0, 0.2, 5.0, 0.05, "matting",
        "Width of the band re-solved on each side of the edge, in % of the long side: wider reaches "
        "further into hair but trusts the mask less.",
    )
    matting_smoothness: float = float_field(
        0.0001, 0.00001, 0.01, 0.00001, "matting",
        "Larger gives a smoother, softer matte; smaller follows finer colour detail (and background texture).",
    )

    KIND = "refinement"
    MODEL_FIELD = "refine"

    def check(self) -> None:
        """The black point must lie below the white point."""
        if self.black_point >= self.white_point:
            raise SettingsError(
                f"Setting 'black_point' ({self.black_point}) must be below 'white_point' "
                f"({self.white_point}); lower the black point or raise the white point."
            )


# ---------------------------------------------------------------------------------------- helpers


def pixels_from_pct(pct: float, shape: tuple[int, ...]) -> float:
    """Convert a size in % of the long side to pixels for an image of shape (h, w, ...): pct/100*max(h, w)."""
    if len(shape) < 2:
        raise SettingsError(f"Expected an image shape (height, width, ...), got {shape!r}.")
    return float(pct) / 100.0 * max(int(shape[0]), int(shape[1]))


def kernel_size(pct: float, shape: tuple[int, ...]) -> int:
    """Odd kernel diameter (int >= 1) nearest to pct % of the long side; 1 means the step is a no-op."""
    px = pixels_from_pct(pct, shape)
    if not math.isfinite(px) or px < 0:
        raise SettingsError(f"A kernel size must be a non-negative percentage, got {pct!r}.")
    # Nearest odd integer; an exact tie (an even integer, e.g. 4 px) goes up (to 5).
    return 2 * int(math.floor(px / 2.0)) + 1


def disk_kernel(size_px: int) -> np.ndarray:
    """Round structuring element: uint8 size x size, 1 where (dx² + dy²) <= (size/2)²."""
    # Not cv2.MORPH_ELLIPSE: at 3x3 that is a '+' cross, which would cut the corners off a 3x3 square.
    r = (size_px - 1) / 2.0
    yy, xx = np.mgrid[0:size_px, 0:size_px]
    return (((yy - r) ** 2 + (xx - r) ** 2) <= (size_px / 2.0) ** 2).astype(np.uint8)


def as_alpha(alpha: Any, name: str = "alpha") -> np.ndarray:
    """Validate a matte and return a new float32 HxW copy in [0, 1] (float64 input is converted)."""
    if not isinstance(alpha, np.ndarray):
        raise SettingsError(f"{name} must be a numpy array (float32 HxW in [0, 1]), got {type(alpha).__name__}.")
    if alpha.ndim != 2:
        raise SettingsError(
            f"{name} must be a single-channel HxW array, got shape {alpha.shape}; "
            f"pass one channel, e.g. mask[..., 0]."
        )
    if alpha.shape[0] == 0 or alpha.shape[1] == 0:
        raise SettingsError(f"{name} is empty (shape {alpha.shape}); pass a non-empty matte.")
    if not np.issubdtype(alpha.dtype, np.floating):
        hint = " (for an 8-bit mask use mask.astype(np.float32) / 255)" if alpha.dtype == np.uint8 else ""
        raise SettingsError(f"{name} must be float32 in [0, 1], got dtype {alpha.dtype}{hint}.")
    out = np.array(alpha, dtype=np.float32, copy=True)
    if not np.all(np.isfinite(out)):
        raise SettingsError(f"{name} contains NaN or infinite values; check the model output.")
    lo, hi = float(out.min()), float(out.max())
    if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
        raise SettingsError(
            f"{name} must lie in [0, 1], got values from {lo:g} to {hi:g}; "
            f"scale it first (e.g. divide 8-bit values by 255)."
        )
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _check_number(value: Any, name: str, lo: float = 0.0) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SettingsError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < lo:
        raise SettingsError(f"{name} must be a finite number >= {lo}, got {value!r}.")
    return value


def _check_size(size_px: Any, name: str) -> int:
    if isinstance(size_px, (bool, np.bool_)) or not isinstance(size_px, (int, np.integer)):
        raise SettingsError(f"{name} must be an integer number of pixels, got {size_px!r}.")
    if size_px < 1:
        raise SettingsError(f"{name} must be at least 1 pixel (1 means no change), got {size_px}.")
    return int(size_px)


# ----------------------------------------------------------------------------------------- steps


def apply_levels(alpha: np.ndarray, black_point: float, white_point: float) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW in [0, 1] = clip((alpha - black) / (white - black), 0, 1)."""
    a = as_alpha(alpha)
    black = _check_number(black_point, "black_point")
    white = _check_number(white_point, "white_point")
    if black >= white or white > 1.0:
        raise SettingsError(
            f"Levels need 0 <= black_point < white_point <= 1, got black_point={black} and "
            f"white_point={white}; lower the black point or raise the white point."
        )
    out = (a - np.float32(black)) / np.float32(white - black)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def bilateral_filter(alpha: np.ndarray, sigma_space_px: float, sigma_color: float) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW in [0, 1], edge-preserving smoothed (sigma_color in alpha units).

    The window diameter is d = 2*ceil(2*sigma_space_px) + 1 (two sigmas each side), capped at
    MAX_BILATERAL_DIAMETER = 31 px for speed; sigma_space_px <= 0 or sigma_color <= 0 is the identity.
    """
    a = as_alpha(alpha)
    sigma_space = _check_number(sigma_space_px, "sigma_space_px", lo=-math.inf)
    sigma_col = _check_number(sigma_color, "sigma_color", lo=-math.inf)
    if sigma_space <= 0 or sigma_col <= 0:
        return a
    d = min(2 * math.ceil(2.0 * sigma_space) + 1, MAX_BILATERAL_DIAMETER)
    out = cv2.bilateralFilter(a, d, sigma_col, sigma_space, borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def morph_open(alpha: np.ndarray, size_px: int) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW; grey opening with a size_px disk (removes smaller specks)."""
    a = as_alpha(alpha)
    size = _check_size(size_px, "size_px")
    if size == 1:
        return a
    return cv2.morphologyEx(
        a, cv2.MORPH_OPEN, disk_kernel(size), borderType=cv2.BORDER_REPLICATE
    ).astype(np.float32, copy=False)


def morph_close(alpha: np.ndarray, size_px: int) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW; grey closing with a size_px disk (fills smaller holes)."""
    a = as_alpha(alpha)
    size = _check_size(size_px, "size_px")
    if size == 1:
        return a
    return cv2.morphologyEx(
        a, cv2.MORPH_CLOSE, disk_kernel(size), borderType=cv2.BORDER_REPLICATE
    ).astype(np.float32, copy=False)


def feather(alpha: np.ndarray, sigma_px: float) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW in [0, 1], Gaussian-blurred (sigma_px <= 0: unchanged)."""
    a = as_alpha(alpha)
    sigma = _check_number(sigma_px, "sigma_px", lo=-math.inf)
    if sigma <= 0:
        return a
    out = cv2.GaussianBlur(a, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def keep_main_subject(alpha: np.ndarray, min_share: float = 0.25, solid: float = 0.5, low: float = 0.02) -> np.ndarray:
    """alpha float32 HxW in [0, 1] → alpha with only the main subject's regions kept (others set to 0).

    Regions are the connected parts of alpha > `low` (so soft edges stay attached); a region is kept
    when its solid area (alpha > `solid`) is at least `min_share` of the largest region's, so a second
    person of similar size stays while stray objects and specks go.
    """
    a = as_alpha(alpha)
    count, labels = cv2.connectedComponents((a > low).astype(np.uint8), connectivity=8)
    if count <= 2:
        return a
    solid_area = np.bincount(labels.ravel(), weights=(a > solid).ravel(), minlength=count)
    solid_area[0] = 0
    keep = solid_area >= min_share * solid_area.max()
    keep[0] = False
    return np.where(keep[labels], a, np.float32(0.0)).astype(np.float32)


def _require_photo(image: np.ndarray | None, shape: tuple[int, ...], step: str) -> None:
    """Raise SettingsError unless `image` is the photo at the mask's size (steps that read the photo)."""
    if image is None or image.shape[:2] != tuple(shape[:2]):
        got = None if image is None else image.shape
        raise SettingsError(f"{step} needs the photo at the mask's size {tuple(shape)}, got {got}.")


def snap_to_edges(alpha: np.ndarray, image: np.ndarray, radius_pct: float, smoothness: float) -> np.ndarray:
    """alpha float32 HxW in [0, 1], image uint8 HxWx3 → alpha following the photo's edges (guided filter)."""
    from core.guided import guided_upsample  # local: core.guided is only needed when this step is on

    a = as_alpha(alpha)
    _require_photo(image, a.shape, "Edge snapping")
    return guided_upsample(a, image, radius_pct=radius_pct, eps=smoothness)


def matte_edges(alpha: np.ndarray, image: np.ndarray, band_pct: float, smoothness: float) -> np.ndarray:
    """alpha float32 HxW in [0, 1], image uint8 HxWx3 → alpha re-solved by matting within band_pct % of its edge."""
    from core.matting import matte_band  # local: core.matting is only needed when this step is on

    shape = np.shape(alpha)  # matte_band validates the matte itself (no second full-size copy here)
    _require_photo(image, shape, "Matting")
    return matte_band(image, alpha, pixels_from_pct(band_pct, shape), smoothness=smoothness)


def refine(alpha: np.ndarray, settings: RefineSettings, image: np.ndarray | None = None) -> np.ndarray:
    """alpha float32 HxW in [0, 1] (+ the photo, uint8 HxWx3, for edge snapping) → refined float32 HxW in [0, 1].

    Steps, each switchable: edge snapping, bilateral, levels, opening, closing, main subject, feather,
    matting. Edge snapping and matting need the photo: without `image` (refining a bare mask) they
    are skipped. Matting runs last, on the feathered mask: inside its band the solved matte replaces
    the feathered values (blurring a solved matte would only undo it), outside they are kept.
    """
    if not isinstance(settings, RefineSettings):
        raise SettingsError(
            f"settings must be a RefineSettings, got {type(settings).__name__}; "
            f"use RefineSettings.from_dict(...) for a dict."
        )
    a = as_alpha(alpha)
    shape = a.shape
    if settings.edge_aware and image is not None:
        a = snap_to_edges(a, image, settings.edge_radius_pct, settings.edge_smoothness)
    if settings.bilateral:
        a = bilateral_filter(
            a, pixels_from_pct(settings.bilateral_sigma_space_pct, shape), settings.bilateral_sigma_color
        )
    if settings.levels:
        a = apply_levels(a, settings.black_point, settings.white_point)
    if settings.opening:
        a = morph_open(a, kernel_size(settings.opening_size_pct, shape))
    if settings.closing:
        a = morph_close(a, kernel_size(settings.closing_size_pct, shape))
    if settings.main_subject:
        a = keep_main_subject(a)
    if settings.feather:
        a = feather(a, pixels_from_pct(settings.feather_sigma_pct, shape))
    if settings.matting and image is not None:
        a = matte_edges(a, image, settings.matting_band_pct, settings.matting_smoothness)
    return a
