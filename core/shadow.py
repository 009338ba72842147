"""A soft shadow cast by the subject: a drop shadow (the silhouette shifted and blurred) or a contact shadow (the
silhouette flattened onto the ground under its lowest part), laid under the subject with straight alpha.

The shadow only darkens the new background: ``plate' = plate * (1 - s)`` with ``s`` = opacity × shadow matte,
and the subject then goes over it as before, so a pixel the subject fully covers (alpha 1) is unchanged and
with the shadow off everything is unchanged. In a transparent cut-out the shadow becomes partly transparent
black pixels (only when asked: `shadow_in_cutout`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.arrays import as_alpha, check_alpha_matches, check_image, pixels_from_pct
from core.settings import Settings, bool_field, choice_field, float_field

__all__ = ["CONTACT_SQUASH", "ShadowSettings", "cast_shadow", "darken", "shadow_matte", "with_shadow_rgba"]

#: A contact shadow is the silhouette flattened to this share of its height toward its lowest row: a person
#: lit from above leaves a short, dark pool that follows the feet and legs.
CONTACT_SQUASH = 0.06


@dataclass(frozen=True)
class ShadowSettings(Settings):
    """A soft shadow under the subject on colour and image backgrounds."""

    KIND = "shadow"
    SWITCH = "shadow"

    shadow: bool = bool_field(False, "shadow", "Cast a soft shadow from the subject onto the new background.", basic="Shadow")
    shadow_style: str = choice_field(
        "drop", ("drop", "contact"), "shadow",
        "drop: the silhouette offset behind the subject; contact: a short shadow on the ground under its lowest part.",
        basic="Shadow style",
    )
    shadow_angle_deg: float = float_field(
        45.0, 0.0, 360.0, 5.0, "shadow", "Direction the shadow falls, clockwise from the right: 90 is straight down.",
        basic="Shadow direction (degrees)",
    )
    shadow_distance_pct: float = float_field(
        1.5, 0.0, 20.0, 0.1, "shadow", "How far the shadow falls from the subject, in % of the long side.",
        basic="Shadow distance (% of long side)",
    )
    shadow_softness_pct: float = float_field(
        1.0, 0.0, 10.0, 0.1, "shadow", "Blur of the shadow's edge, in % of the long side.",
        basic="Shadow softness (% of long side)",
    )
    shadow_opacity_pct: float = float_field(
        45.0, 0.0, 100.0, 1.0, "shadow", "How dark the shadow is at its darkest: 100 is black.",
        basic="Shadow opacity (%)",
    )
    shadow_in_cutout: bool = bool_field(
        False, "shadow", "Keep the shadow in the transparent cut-out too, as partly transparent dark pixels.",
        basic="Shadow in the transparent cut-out",
    )


def shadow_matte(alpha: np.ndarray, settings: ShadowSettings) -> np.ndarray:
    """alpha: float32 HxW in [0, 1] → the shadow's coverage, float32 HxW in [0, 1] (opacity applied; zeros when off)."""
    a = as_alpha(alpha)
    if not settings.shadow or settings.shadow_opacity_pct == 0:
        return np.zeros_like(a)
    distance = pixels_from_pct(settings.shadow_distance_pct, a.shape)
    angle = math.radians(settings.shadow_angle_deg)
    dx, dy = distance * math.cos(angle), distance * math.sin(angle)
    height, width = a.shape
    if settings.shadow_style == "contact":
        rows = np.flatnonzero((a > 0.5).any(axis=1))
        if rows.size == 0:
            return np.zeros_like(a)
        base = float(rows[-1]) + 0.5  # the lowest row's lower edge, where the subject meets the ground
        # y' = base - (base - y) * squash: the silhouette flattened toward its base, then shifted along the angle.
        warp = np.array([[1.0, 0.0, dx], [0.0, CONTACT_SQUASH, (1 - CONTACT_SQUASH) * base + dy * CONTACT_SQUASH]])
    else:
        warp = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    cast = cv2.warpAffine(a, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sigma = pixels_from_pct(settings.shadow_softness_pct, a.shape)
    if sigma > 0.3:
        cast = cv2.GaussianBlur(cast, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return np.clip(cast * np.float32(settings.shadow_opacity_pct / 100.0), 0.0, 1.0).astype(np.float32)


def darken(plate: np.ndarray, shadow: np.ndarray) -> np.ndarray:
    """plate uint8 HxWx3, shadow float32 HxW in [0, 1] → uint8 HxWx3 plate * (1 - shadow), rounded to nearest."""
    plate = check_image(plate, "plate")
    s = check_alpha_matches(shadow, plate)
    return np.rint(plate.astype(np.float32) * (np.float32(1.0) - s)[..., None]).astype(np.uint8)


def cast_shadow(plate: np.ndarray, alpha: np.ndarray, settings: ShadowSettings | None) -> np.ndarray:
    """plate uint8 HxWx3, alpha float32 HxW → the plate with the subject's shadow on it (the plate itself when off)."""
    if settings is None or not settings.shadow:
        return plate
    return darken(plate, shadow_matte(alpha, settings))


def with_shadow_rgba(rgba: np.ndarray, shadow: np.ndarray) -> np.ndarray:
    """A straight-alpha cut-out uint8 HxWx4 with a black shadow (float32 HxW in [0, 1]) behind it, uint8 HxWx4.

    Coverage A = a + s (1 - a) and colour C = fg a / A (the shadow is black), both rounded to nearest."""
    rgba = check_image(rgba, "rgba", channels=(4,))
    s = check_alpha_matches(shadow, rgba)
    a = rgba[..., 3].astype(np.float32) / np.float32(255.0)
    coverage = a + s * (np.float32(1.0) - a)
    scale = np.divide(a, coverage, out=np.zeros_like(a), where=coverage > 0)
    out = np.empty_like(rgba)
    out[..., :3] = np.rint(rgba[..., :3].astype(np.float32) * scale[..., None]).astype(np.uint8)
    out[..., 3] = np.rint(coverage * np.float32(255.0)).astype(np.uint8)
    return out
