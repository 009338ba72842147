"""Mask refinement: pure step functions on a float alpha matte and the settings that drive them.

Every function takes and returns ``alpha: float32 HxW in [0, 1]`` and never modifies its input.
Sizes that depend on resolution are stored in percent of the image's long side
(``pixels_from_pct``), so one setting means the same on a 600 px and on a 6000 px photo.
All filters use ``cv2.BORDER_REPLICATE``, so a subject that touches the frame is not eaten away at
the border.

``RefineSettings`` is the single source of defaults, ranges and help texts for the UI, the CLI and
the benchmarks. ``STEPS`` is the single table of the refinement steps, in the order they run: each
step's name is its on/off switch in ``RefineSettings`` (and the group of its parameters). ``refine()``,
the pipeline's working-resolution split, the Inspector and the benchmarks all loop over it.

The public step functions (``apply_levels``, ``feather``, ...) validate their inputs; ``refine()``
validates the matte, the photo and the settings once and runs the steps on the checked arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.arrays import as_alpha, check_image, check_number, check_pixels, pixels_from_pct
from core.errors import SettingsError
from core.guided import guided_upsample
from core.matting import matte_band
from core.settings import Settings, bool_field, float_field

__all__ = [
    "STEPS",
    "RefineSettings",
    "RefineStep",
    "apply_levels",
    "bilateral_filter",
    "disk_kernel",
    "feather",
    "keep_main_subject",
    "kernel_size",
    "matte_edges",
    "morph_close",
    "morph_open",
    "refine",
    "snap_to_edges",
]

#: Largest bilateral window (pixels). Beyond sigma_space ~7.5 px the window, not sigma, limits reach.
MAX_BILATERAL_DIAMETER = 31


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


# ----------------------------------------------------------------------------------------- steps
# Each public step validates its arguments and calls its kernel (`_levels`, ...); the kernels take a
# checked float32 matte they may not modify, and are what the step table runs.


def _levels(a: np.ndarray, black: float, white: float) -> np.ndarray:
    out = (a - np.float32(black)) / np.float32(white - black)
    return np.clip(out, 0.0, 1.0, out=out)


def apply_levels(alpha: np.ndarray, black_point: float, white_point: float) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW in [0, 1] = clip((alpha - black) / (white - black), 0, 1)."""
    a = as_alpha(alpha)
    black = check_number(black_point, "black_point")
    white = check_number(white_point, "white_point")
    if black >= white or white > 1.0:
        raise SettingsError(
            f"Levels need 0 <= black_point < white_point <= 1, got black_point={black} and "
            f"white_point={white}; lower the black point or raise the white point."
        )
    return _levels(a, black, white)


def _bilateral(a: np.ndarray, sigma_space: float, sigma_color: float) -> np.ndarray:
    if sigma_space <= 0 or sigma_color <= 0:
        return a
    d = min(2 * math.ceil(2.0 * sigma_space) + 1, MAX_BILATERAL_DIAMETER)
    out = cv2.bilateralFilter(a, d, sigma_color, sigma_space, borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0, out=out)


def bilateral_filter(alpha: np.ndarray, sigma_space_px: float, sigma_color: float) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW in [0, 1], edge-preserving smoothed (sigma_color in alpha units).

    The window diameter is d = 2*ceil(2*sigma_space_px) + 1 (two sigmas each side), capped at
    MAX_BILATERAL_DIAMETER = 31 px for speed; sigma_space_px <= 0 or sigma_color <= 0 is the identity.
    """
    a = as_alpha(alpha)
    return _bilateral(a, check_number(sigma_space_px, "sigma_space_px", lo=-math.inf),
                      check_number(sigma_color, "sigma_color", lo=-math.inf))


def _morph(a: np.ndarray, operation: int, size: int) -> np.ndarray:
    if size == 1:
        return a
    return cv2.morphologyEx(a, operation, disk_kernel(size), borderType=cv2.BORDER_REPLICATE)


def morph_open(alpha: np.ndarray, size_px: int) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW; grey opening with a size_px disk (removes smaller specks)."""
    return _morph(as_alpha(alpha), cv2.MORPH_OPEN, check_pixels(size_px, "size_px"))


def morph_close(alpha: np.ndarray, size_px: int) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW; grey closing with a size_px disk (fills smaller holes)."""
    return _morph(as_alpha(alpha), cv2.MORPH_CLOSE, check_pixels(size_px, "size_px"))


def _feather(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return a
    out = cv2.GaussianBlur(a, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0, out=out)


def feather(alpha: np.ndarray, sigma_px: float) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] -> float32 HxW in [0, 1], Gaussian-blurred (sigma_px <= 0: unchanged)."""
    return _feather(as_alpha(alpha), check_number(sigma_px, "sigma_px", lo=-math.inf))


def _main_subject(a: np.ndarray, min_share: float = 0.25, solid: float = 0.5, low: float = 0.02) -> np.ndarray:
    count, labels = cv2.connectedComponents((a > low).astype(np.uint8), connectivity=8)
    if count <= 2:
        return a
    solid_area = np.bincount(labels.ravel(), weights=(a > solid).ravel(), minlength=count)
    solid_area[0] = 0
    keep = solid_area >= min_share * solid_area.max()
    keep[0] = False
    return np.where(keep[labels], a, np.float32(0.0)).astype(np.float32)


def keep_main_subject(alpha: np.ndarray, min_share: float = 0.25, solid: float = 0.5, low: float = 0.02) -> np.ndarray:
    """alpha float32 HxW in [0, 1] → alpha with only the main subject's regions kept (others set to 0).

    Regions are the connected parts of alpha > `low` (so soft edges stay attached); a region is kept
    when its solid area (alpha > `solid`) is at least `min_share` of the largest region's, so a second
    person of similar size stays while stray objects and specks go.
    """
    return _main_subject(as_alpha(alpha), min_share, solid, low)


def _check_photo(image: np.ndarray | None, shape: tuple[int, ...], step: str) -> np.ndarray:
    """The photo, uint8 HxWx3 at the mask's size, for the steps that read it."""
    if image is None:
        raise SettingsError(f"{step} needs the photo at the mask's size {tuple(shape)}; pass image=...")
    check_image(image, "image")
    if image.shape[:2] != tuple(shape[:2]):
        raise SettingsError(f"{step} needs the photo at the mask's size {tuple(shape)}, got {image.shape[:2]}.")
    return image


def snap_to_edges(alpha: np.ndarray, image: np.ndarray, radius_pct: float, smoothness: float) -> np.ndarray:
    """alpha float32 HxW in [0, 1], image uint8 HxWx3 → alpha following the photo's edges (guided filter)."""
    a = as_alpha(alpha)
    return guided_upsample(a, _check_photo(image, a.shape, "Edge snapping"), radius_pct=radius_pct, eps=smoothness)


def matte_edges(alpha: np.ndarray, image: np.ndarray, band_pct: float, smoothness: float) -> np.ndarray:
    """alpha float32 HxW in [0, 1], image uint8 HxWx3 → alpha re-solved by matting within band_pct % of its edge."""
    shape = np.shape(alpha)  # matte_band validates the matte itself (no second full-size copy here)
    _check_photo(image, shape, "Matting")
    return matte_band(image, alpha, pixels_from_pct(band_pct, shape), smoothness=smoothness)


# ------------------------------------------------------------------------------------ the step table


@dataclass(frozen=True)
class RefineStep:
    """One refinement step: `name` is its switch in RefineSettings; `run(alpha, settings, photo)` its work.

    `run` takes a checked float32 HxW matte in [0, 1] (not modified) and, when `needs_photo`, the photo as
    uint8 HxWx3 at the matte's size (without a photo such a step is skipped). `full_resolution` steps take
    their detail from the photo's pixels, so above the working limit they run on the full-size photo
    after the other steps ran at the working resolution (core.pipeline); they come last in the table.
    """

    name: str
    run: Callable[[np.ndarray, RefineSettings, np.ndarray | None], np.ndarray]
    needs_photo: bool = False
    full_resolution: bool = False


def _px(pct: float, a: np.ndarray) -> float:
    return pixels_from_pct(pct, a.shape)


#: The refinement steps in the order `refine()` runs them.
STEPS: tuple[RefineStep, ...] = (
    RefineStep("edge_aware", lambda a, s, photo: guided_upsample(a, photo, s.edge_radius_pct, s.edge_smoothness),
               needs_photo=True),
    RefineStep("bilateral", lambda a, s, photo: _bilateral(a, _px(s.bilateral_sigma_space_pct, a), s.bilateral_sigma_color)),
    RefineStep("levels", lambda a, s, photo: _levels(a, s.black_point, s.white_point)),
    RefineStep("opening", lambda a, s, photo: _morph(a, cv2.MORPH_OPEN, kernel_size(s.opening_size_pct, a.shape))),
    RefineStep("closing", lambda a, s, photo: _morph(a, cv2.MORPH_CLOSE, kernel_size(s.closing_size_pct, a.shape))),
    RefineStep("main_subject", lambda a, s, photo: _main_subject(a)),
    RefineStep("feather", lambda a, s, photo: _feather(a, _px(s.feather_sigma_pct, a))),
    # Matting runs last, on the feathered mask: inside its band the solved matte replaces the feathered
    # values (blurring a solved matte would only undo it), outside they are kept.
    RefineStep("matting", lambda a, s, photo: matte_band(photo, a, _px(s.matting_band_pct, a), smoothness=s.matting_smoothness),
               needs_photo=True, full_resolution=True),
)
STEP_NAMES = tuple(step.name for step in STEPS)
#: The steps that run at the working resolution, and those that need the full-size photo.
WORKING_STEPS = tuple(step for step in STEPS if not step.full_resolution)
FULL_RESOLUTION_STEPS = tuple(step for step in STEPS if step.full_resolution)
assert STEPS == WORKING_STEPS + FULL_RESOLUTION_STEPS, "full-resolution steps must come last"


def step_fields(step: RefineStep | str) -> tuple[str, ...]:
    """The RefineSettings fields that decide a step's output: its switch, then its parameters."""
    name = step if isinstance(step, str) else step.name
    return tuple(spec.name for spec in RefineSettings.field_specs() if spec.group == name)


def refine(
    alpha: np.ndarray, settings: RefineSettings, image: np.ndarray | None = None,
    steps: Sequence[RefineStep] = STEPS,
) -> np.ndarray:
    """alpha float32 HxW in [0, 1] (+ the photo, uint8 HxWx3) → refined float32 HxW in [0, 1].

    Runs each step of `steps` (default: all of STEPS, in order) whose switch is on in `settings`. The
    steps that need the photo are skipped without `image` (refining a bare mask).
    """
    if not isinstance(settings, RefineSettings):
        raise SettingsError(
            f"settings must be a RefineSettings, got {type(settings).__name__}; "
            f"use RefineSettings.from_dict(...) for a dict."
        )
    if any(step not in STEPS for step in steps):
        raise SettingsError("steps must be taken from core.refine.STEPS.")
    a = as_alpha(alpha)
    photo = None if image is None else _check_photo(image, a.shape, "Refinement")
    for step in steps:
        if getattr(settings, step.name) and (photo is not None or not step.needs_photo):
            a = step.run(a, settings, photo)
    return a
