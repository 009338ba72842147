"""Finishing a cut-out for its new background: decontaminate the edge, harmonise, blend, light-wrap.

`FinishSettings` holds the colour options (defaults in one place, like `RefineSettings`), and `finish`
applies them in order: the subject's edge colours are decontaminated (so the old background does not
bleed into the new one), optionally harmonised toward the new background, blended with straight alpha,
and optionally given a light wrap. A transparent result is the decontaminated RGBA cut-out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.arrays import check_alpha_matches, check_image
from core.composite import Background, background_plate, blend, cutout_rgba
from core.errors import SettingsError
from core.foreground import decontaminate
from core.harmonize import harmonize, light_wrap
from core.settings import Settings, bool_field, float_field
from core.shadow import ShadowSettings, cast_shadow, shadow_matte, with_shadow_rgba


@dataclass(frozen=True)
class FinishSettings(Settings):
    """Colour options applied when the subject goes onto its new background."""

    KIND = "finishing"

    decontaminate: bool = bool_field(
        True, "decontaminate",
        "Remove the old background's colour from the subject's soft edge (no green rim from a lawn).",
    )
    decontaminate_strength: float = float_field(
        1.0, 0.0, 1.0, 0.05, "decontaminate", "How much of the estimated true edge colour to use: 0 keeps the photo's.",
        basic="Remove the old background's colour from the edge",
    )
    harmonize: bool = bool_field(
        False, "harmonize", "Shift the subject's colours slightly toward the new background's, so it looks lit by it.",
    )
    harmonize_strength: float = float_field(
        0.5, 0.0, 1.0, 0.05, "harmonize", "How far the subject's colour statistics move toward the background's.",
    )
    light_wrap: bool = bool_field(
        False, "light_wrap", "Let a soft band of the new background's light fall over the subject's edge.",
    )
    light_wrap_strength: float = float_field(
        0.3, 0.0, 1.0, 0.05, "light_wrap", "Brightness of the wrapped light.",
    )
    light_wrap_radius_pct: float = float_field(
        1.0, 0.1, 5.0, 0.05, "light_wrap", "Width of the wrapped band, in % of the long side.",
    )


def finish(
    image: np.ndarray, alpha: np.ndarray, background: Background, settings: FinishSettings | None = None,
    shadow: ShadowSettings | None = None,
) -> np.ndarray:
    """image uint8 HxWx3, alpha float32 HxW in [0, 1] → uint8 HxWx3 composite, or HxWx4 cut-out if transparent.

    `shadow` (core.shadow) darkens the new background under the subject; a transparent cut-out keeps it only
    when its `shadow_in_cutout` is on."""
    if not isinstance(background, Background):
        raise SettingsError(
            f"background must be a Background, got {type(background).__name__}; "
            f"e.g. Background('color', color=(255, 255, 255)) or Background.parse('#ffffff', load)."
        )
    image = check_image(image, "image")
    alpha = check_alpha_matches(alpha, image)
    settings = settings if settings is not None else FinishSettings()
    foreground = image
    if settings.decontaminate and settings.decontaminate_strength > 0:
        foreground = decontaminate(image, alpha, settings.decontaminate_strength)
    if background.kind == "transparent":
        cutout = cutout_rgba(foreground, alpha)
        if shadow is not None and shadow.shadow and shadow.shadow_in_cutout:
            return with_shadow_rgba(cutout, shadow_matte(alpha, shadow))
        return cutout
    plate = cast_shadow(background_plate(image, alpha, background), alpha, shadow)
    if settings.harmonize and settings.harmonize_strength > 0:
        foreground = harmonize(foreground, alpha, plate, settings.harmonize_strength)
    out = blend(foreground, alpha, plate)
    if settings.light_wrap and settings.light_wrap_strength > 0:
        out = light_wrap(out, alpha, plate, settings.light_wrap_radius_pct, settings.light_wrap_strength)
    return out
