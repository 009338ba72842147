"""Shared array helpers: input checks for public entry points, size conversion, and a 3×3 symmetric inverse.

The operator modules (refine, matting, guided, composite, harmonize, inspection, foreground) import
these instead of each other's private helpers. Every check raises ``SettingsError`` with a message
that says what to pass instead; none modifies its input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.errors import SettingsError

__all__ = [
    "as_alpha",
    "check_alpha_matches",
    "check_fraction",
    "check_image",
    "check_number",
    "check_pixels",
    "check_size",
    "is_number",
    "pixels_from_pct",
    "sym3_inverse",
]

# Values this far outside [0, 1] (float round-off from upstream arithmetic) are clipped silently.
RANGE_TOLERANCE = 1e-4


def is_number(value: Any) -> bool:
    """True for int, float and numpy numbers; False for bool (a switch is not a size)."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def check_number(value: Any, name: str, lo: float = 0.0, lo_open: bool = False) -> float:
    """A finite number >= lo (> lo when lo_open) as float; lo=-inf accepts any finite number."""
    if not is_number(value):
        raise SettingsError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < lo or (lo_open and value == lo):
        raise SettingsError(f"{name} must be a finite number {'>' if lo_open else '>='} {lo}, got {value!r}.")
    return value


def check_fraction(value: Any, name: str) -> float:
    """A number in [0, 1] as float."""
    if not is_number(value) or not (math.isfinite(float(value)) and 0.0 <= float(value) <= 1.0):
        raise SettingsError(f"{name} must be a number between 0 and 1, got {value!r}.")
    return float(value)


def check_pixels(value: Any, name: str) -> int:
    """A whole number of pixels >= 1 as int (1 is a no-op size for the filters)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SettingsError(f"{name} must be a whole number of pixels >= 1 (1 means no change), got {value!r}.")
    return int(value)


def check_size(size: Any, name: str = "size") -> tuple[int, int]:
    """(height, width) in whole pixels >= 1 as a tuple of ints."""
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)
        or min(size) < 1
    ):
        raise SettingsError(f"{name} must be (height, width) in whole pixels >= 1, got {size!r}.")
    return int(size[0]), int(size[1])


def pixels_from_pct(pct: float, shape: tuple[int, ...]) -> float:
    """Convert a size in % of the long side to pixels for an image of shape (h, w, ...): pct/100*max(h, w)."""
    if len(shape) < 2:
        raise SettingsError(f"Expected an image shape (height, width, ...), got {shape!r}.")
    return float(pct) / 100.0 * max(int(shape[0]), int(shape[1]))


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
    if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise SettingsError(
            f"{name} must lie in [0, 1], got values from {lo:g} to {hi:g}; "
            f"scale it first (e.g. divide 8-bit values by 255)."
        )
    np.clip(out, 0.0, 1.0, out=out)
    return out


def check_image(image: Any, name: str, channels: tuple[int, ...] = (3,)) -> np.ndarray:
    """image uint8 HxWxC with C in `channels`, non-empty; returned as is (not copied)."""
    if not isinstance(image, np.ndarray):
        raise SettingsError(f"{name} must be a numpy array (uint8 HxWx3), got {type(image).__name__}.")
    want = " or ".join(f"HxWx{c}" for c in channels)
    if image.ndim != 3 or image.shape[2] not in channels:
        raise SettingsError(
            f"{name} must be a uint8 {want} image, got shape {image.shape}; "
            f"convert it to RGB first (e.g. PIL's .convert('RGB'))."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise SettingsError(f"{name} is empty (shape {image.shape}); pass a non-empty image.")
    if image.dtype != np.uint8:
        raise SettingsError(
            f"{name} must have dtype uint8 (0..255), got {image.dtype}; "
            f"convert with np.clip(x, 0, 255).astype(np.uint8)."
        )
    return image


def check_alpha_matches(alpha: Any, image: np.ndarray, name: str = "alpha") -> np.ndarray:
    """as_alpha(alpha), which must have the image's height and width."""
    a = as_alpha(alpha, name)
    if a.shape != image.shape[:2]:
        raise SettingsError(
            f"{name} has shape {a.shape} but the image is {image.shape[0]}x{image.shape[1]}; "
            f"resize the matte to the image size."
        )
    return a


def sym3_inverse(
    rr: np.ndarray, rg: np.ndarray, rb: np.ndarray, gg: np.ndarray, gb: np.ndarray, bb: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Per-pixel symmetric 3×3 matrices [[rr rg rb] [rg gg gb] [rb gb bb]] → (cofactors, determinant).

    The cofactors (c_rr, c_rg, c_rb, c_gg, c_gb, c_bb) form the adjugate, so the inverse is cofactors / det;
    callers divide once, folding in their own scale factors. Used by the guided filter and the matting
    solver on regularised colour covariances (det > 0).
    """
    c_rr, c_rg, c_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    c_gg, c_gb, c_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * c_rr + rg * c_rg + rb * c_rb
    return (c_rr, c_rg, c_rb, c_gg, c_gb, c_bb), det
