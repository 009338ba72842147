"""Framing: the subject's box from the matte, an output canvas (aspect, size, margin, anchor), and the subject
scaled and placed on it.

Pure functions on the matte. The canvas is chosen by `FrameSettings`; `place_subject` turns it into a
`Placement` (a uniform scale and a shift: never a stretch), and `apply_placement` moves the photo and its
matte onto the canvas, where the new background then fills everything (`core.finishing`). Two rules follow
what a photographer expects:

- A side of the subject that is cut by the photo's own edge (a bust cut at the chest, a shoulder leaving the
  frame) stays on the canvas's edge: a margin there would leave the cut floating in the air.
- Without a size, the canvas is the smallest of the chosen aspect that holds the subject and its margins at
  its own resolution (scale 1): nothing is resampled and no detail is lost. With a size, the subject is scaled
  to fit inside the margins.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from core.arrays import as_alpha, check_image
from core.errors import PortraitStudioError, SettingsError
from core.id_presets import ID_PRESETS
from core.settings import Settings, bool_field, choice_field, float_field, text_field

__all__ = [
    "ASPECTS", "MM_PER_INCH", "SUBJECT_ALPHA", "Box", "FrameSettings", "Placement", "apply_placement",
    "canvas_size", "frame_subject", "parse_aspect", "parse_size", "place_subject", "size_in_pixels", "subject_box",
]

#: Pixels at or below this alpha do not count toward the subject's box: a wisp of hair at 0.01, or the
#: matte's faint haze, would otherwise stretch it to the photo's edge.
SUBJECT_ALPHA = 0.1
#: A side of the box this close to the photo's edge (px, or this share of the side) counts as cut by it:
#: refinement may have eroded the last rows of a bust.
EDGE_TOLERANCE_PX, EDGE_TOLERANCE_SHARE = 2, 0.005
MM_PER_INCH = 25.4
ASPECTS = ("original", "1:1", "4:5", "3:4", "2:3", "16:9")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(px|mm|in)?\s*$", re.IGNORECASE)
_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


def parse_aspect(text: str) -> str:
    """'original' or 'W:H' with positive numbers, in normal form ('4:5', '1.91:1')."""
    if text.strip().lower() == "original":
        return "original"
    match = _ASPECT.match(text)
    if not match or float(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        raise SettingsError(f"{text!r} is not an aspect ratio: write W:H such as 4:5, 16:9 or 1.91:1, or 'original'.")
    return f"{float(match.group(1)):g}:{float(match.group(2)):g}"


def parse_size(text: str) -> str:
    """'' (the subject's own resolution), 'WxH' in pixels, or 'WxHmm' / 'WxHin' (with a DPI), in normal form."""
    if not text.strip():
        return ""
    match = _SIZE.match(text)
    if not match:
        raise SettingsError(
            f"{text!r} is not a size: write WxH in pixels (2000x2000), millimetres (35x45mm) or inches (2x2in)."
        )
    width, height, unit = float(match.group(1)), float(match.group(2)), (match.group(3) or "px").lower()
    if unit == "px" and not (width.is_integer() and height.is_integer()):
        raise SettingsError(f"{text!r}: a size in pixels is whole numbers (e.g. 2000x2000); add mm or in for print sizes.")
    if width <= 0 or height <= 0 or (unit == "px" and max(width, height) > 30000):
        raise SettingsError(f"{text!r}: each side must be above 0 (and at most 30000 pixels).")
    return f"{width:g}x{height:g}{'' if unit == 'px' else unit}"


@dataclass(frozen=True)
class FrameSettings(Settings):
    """Where the subject goes on the output canvas: aspect, size, margins, anchor; or an ID-photo preset."""

    KIND = "framing"
    SWITCH = "frame"

    frame: bool = bool_field(
        False, "frame", "Reframe: put the subject on a new canvas of the aspect and size below (off: the photo's own framing).",
        basic="Reframe the subject",
    )
    aspect: str = text_field(
        "original", "frame", "Canvas aspect ratio W:H ('original': the photo's).", parse_aspect, ASPECTS,
        basic="Aspect ratio",
    )
    size: str = text_field(
        "", "frame", "Canvas size: WxH pixels (2000x2000), or 35x45mm / 2x2in at the DPI below; empty: the subject at its own resolution.",
        parse_size, ("", "1080x1080", "2000x2000", "1080x1350"), basic="Size",
    )
    dpi: float = float_field(
        300.0, 72.0, 1200.0, 1.0, "frame", "Print resolution of a size in mm or inches (its pixels, and the DPI written into the file); a size in "
        "pixels keeps the photo's own DPI.",
        basic="DPI",
    )
    margin_pct: float = float_field(
        5.0, 0.0, 40.0, 0.5, "frame", "Space around the subject on each side, in % of the canvas's width (sides) and height (top, bottom).",
        basic="Margin (% of the canvas)",
    )
    anchor: str = choice_field(
        "center", ("center", "bottom"), "frame", "center: the subject in the middle; bottom: standing on the canvas's bottom edge (a full body).",
        basic="Anchor",
    )
    id_photo: str = choice_field(
        "none", ("none", *ID_PRESETS), "id_photo",
        "An ID-photo or profile preset (python -m core presets): sets the size, head size and position from the face; "
        "it replaces the framing above.",
        basic="ID photo",
    )
    print_sheet: bool = bool_field(
        False, "id_photo", "Tile the ID photo on a 10x15 cm (4x6 in) sheet at 300 DPI with thin cut guides.",
        basic="Print sheet (10x15 cm)",
    )

    def check(self) -> None:
        sized = size_in_pixels(self.size, self.dpi)
        if sized is not None and self.aspect != "original":
            height, width = sized
            if abs(width / height - _ratio(self.aspect, sized)) > 1.0 / min(height, width):
                raise SettingsError(
                    f"The size {self.size} is {width}x{height} pixels, not of the aspect {self.aspect}: give one of them "
                    f"(a size sets its own aspect)."
                )
        if self.print_sheet and (self.id_photo == "none" or not ID_PRESETS[self.id_photo].printed):
            printed = ", ".join(name for name, preset in ID_PRESETS.items() if preset.printed)
            raise SettingsError(f"A print sheet tiles a printed ID photo: choose one of {printed} as the ID photo.")


@dataclass(frozen=True)
class Box:
    """The subject's box in photo pixels: rows top..bottom-1, columns left..right-1; `cut` names the sides that lie
    on the photo's own edge ("top", "bottom", "left", "right")."""

    top: int
    left: int
    bottom: int
    right: int
    cut: frozenset[str] = frozenset()

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def subject_box(alpha: np.ndarray, threshold: float = SUBJECT_ALPHA) -> Box | None:
    """alpha: float32 HxW in [0, 1] → the box of pixels with alpha > threshold (None if there are none).

    A side within EDGE_TOLERANCE of the photo's edge is extended to it and marked cut."""
    a = as_alpha(alpha)
    rows, cols = np.flatnonzero((a > threshold).any(axis=1)), np.flatnonzero((a > threshold).any(axis=0))
    if rows.size == 0:
        return None
    height, width = a.shape
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    near_y = max(EDGE_TOLERANCE_PX, EDGE_TOLERANCE_SHARE * height)
    near_x = max(EDGE_TOLERANCE_PX, EDGE_TOLERANCE_SHARE * width)
    cut = set()
    if top <= near_y:
        top, cut = 0, cut | {"top"}
    if bottom >= height - near_y:
        bottom, cut = height, cut | {"bottom"}
    if left <= near_x:
        left, cut = 0, cut | {"left"}
    if right >= width - near_x:
        right, cut = width, cut | {"right"}
    return Box(top, left, bottom, right, frozenset(cut))


def _ratio(aspect: str, photo_shape: tuple[int, int]) -> float:
    """Width / height of an aspect in normal form ('original': the photo's)."""
    if aspect == "original":
        return photo_shape[1] / photo_shape[0]
    width, height = (float(v) for v in aspect.split(":"))
    return width / height


def size_in_pixels(size: str, dpi: float) -> tuple[int, int] | None:
    """A size in normal form (parse_size) → (height, width) in pixels at `dpi` (None for '')."""
    if not size:
        return None
    match = _SIZE.match(size)
    width, height, unit = float(match.group(1)), float(match.group(2)), (match.group(3) or "px").lower()
    per_unit = {"px": 1.0, "mm": dpi / MM_PER_INCH, "in": dpi}[unit]
    return max(1, round(height * per_unit)), max(1, round(width * per_unit))


def _margins(box: Box, anchor: str, fraction: float) -> dict[str, float]:
    """Each side's margin as a fraction of the canvas along its axis: none on a cut side, none under a subject
    anchored to the bottom."""
    no_margin = set(box.cut) | ({"bottom"} if anchor == "bottom" else set())
    return {side: 0.0 if side in no_margin else fraction for side in ("top", "bottom", "left", "right")}


def canvas_size(settings: FrameSettings, photo_shape: tuple[int, int], box: Box) -> tuple[int, int]:
    """(height, width) of the output canvas for a subject `box` in a photo of `photo_shape` (H, W).

    A size wins (in pixels, or mm/in at settings.dpi; FrameSettings refuses an aspect that disagrees). Without a size,
    the smallest canvas of the aspect that holds the box and its margins at scale 1.
    """
    ratio = _ratio(settings.aspect, photo_shape)
    sized = size_in_pixels(settings.size, settings.dpi)
    if sized is not None:
        return sized
    m = _margins(box, settings.anchor, settings.margin_pct / 100.0)
    free_y, free_x = 1.0 - m["top"] - m["bottom"], 1.0 - m["left"] - m["right"]
    height = max(box.height / free_y, box.width / (free_x * ratio))
    height = max(1, math.ceil(height - 1e-6))
    return height, max(1, round(height * ratio))


@dataclass(frozen=True)
class Placement:
    """Photo → canvas: canvas = scale * photo + (shift_x, shift_y), in pixel-edge coordinates; canvas (H, W)."""

    scale: float
    shift_x: float
    shift_y: float
    canvas: tuple[int, int]


def _axis(length: float, start: float, canvas: int, low: str, high: str, box: Box, m: dict[str, float],
          scale: float, anchor_end: bool) -> float:
    """The shift along one axis: a cut side flush with its edge, else centred within the margins (or at the end)."""
    low_cut, high_cut = low in box.cut, high in box.cut
    size = length * scale
    if low_cut and not high_cut:
        position = 0.0
    elif high_cut and not low_cut:
        position = canvas - size
    elif anchor_end and not low_cut:
        position = canvas - m[high] * canvas - size
    else:
        lo, hi = m[low] * canvas, canvas - m[high] * canvas
        position = lo + (hi - lo - size) / 2
    return position - scale * start


def place_subject(settings: FrameSettings, photo_shape: tuple[int, int], box: Box) -> Placement:
    """The scale and shift that put `box` on the canvas of `settings` (see canvas_size) within its margins."""
    height, width = canvas_size(settings, photo_shape, box)
    m = _margins(box, settings.anchor, settings.margin_pct / 100.0)
    scale = min(height * (1 - m["top"] - m["bottom"]) / box.height, width * (1 - m["left"] - m["right"]) / box.width)
    if abs(scale - 1.0) * max(box.height, box.width) < 1.0:  # within a pixel of the subject's own size: do not resample
        scale = 1.0
    shift_y = _axis(box.height, box.top, height, "top", "bottom", box, m, scale, settings.anchor == "bottom")
    shift_x = _axis(box.width, box.left, width, "left", "right", box, m, scale, False)
    return Placement(scale, shift_x, shift_y, (height, width))


def frame_subject(settings: FrameSettings, alpha: np.ndarray) -> Placement:
    """The Placement of `settings` for the subject in `alpha` (float32 HxW in [0, 1]); refuses an empty matte."""
    box = subject_box(alpha)
    if box is None:
        raise PortraitStudioError(
            "No subject to frame: the mask is empty. Check the mask (or touch it up), or turn reframing off."
        )
    return place_subject(settings, alpha.shape[:2], box)


def apply_placement(
    image: np.ndarray, alpha: np.ndarray, placement: Placement, mirror: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """image uint8 HxWx3, alpha float32 HxW → (image uint8 H'xW'x3, alpha float32 H'xW') on the canvas.

    Only the part of the photo the canvas shows is resampled (area-averaged when shrinking, cubic when
    enlarging), then placed at the nearest whole pixel; beyond the photo the matte is 0 (the new background)
    and the image repeats its edge (so edge-colour estimates see no black), or is mirrored there (`mirror`, for a
    blurred backdrop)."""
    image = check_image(image, "image")
    alpha = as_alpha(alpha)
    s, (height, width) = placement.scale, placement.canvas
    h, w = alpha.shape
    # The photo's columns and rows the canvas shows, in whole pixels.
    x0 = max(0, math.floor(-placement.shift_x / s))
    x1 = min(w, math.ceil((width - placement.shift_x) / s))
    y0 = max(0, math.floor(-placement.shift_y / s))
    y1 = min(h, math.ceil((height - placement.shift_y) / s))
    canvas_image = np.empty((height, width, 3), np.uint8)
    canvas_alpha = np.zeros((height, width), np.float32)
    canvas_image[...] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)  # where the photo does not reach
    if x1 <= x0 or y1 <= y0:
        return canvas_image, canvas_alpha
    crop_image, crop_alpha = image[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    left, top = round(s * x0 + placement.shift_x), round(s * y0 + placement.shift_y)
    if s != 1.0:
        size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
        shrink = s < 1.0
        crop_image = cv2.resize(crop_image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        crop_alpha = np.clip(cv2.resize(crop_alpha, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR), 0, 1)
    # Clip the placed crop to the canvas, then pad it out to the canvas's edges.
    ch, cw = crop_alpha.shape
    cy0, cx0 = max(0, -top), max(0, -left)
    cy1, cx1 = min(ch, height - top), min(cw, width - left)
    if cy1 <= cy0 or cx1 <= cx0:
        return canvas_image, canvas_alpha
    crop_image, crop_alpha = crop_image[cy0:cy1, cx0:cx1], crop_alpha[cy0:cy1, cx0:cx1]
    pad_top, pad_left = max(0, top), max(0, left)
    pad_bottom, pad_right = height - pad_top - crop_alpha.shape[0], width - pad_left - crop_alpha.shape[1]
    border = cv2.BORDER_REFLECT_101 if mirror and min(crop_alpha.shape) > 1 else cv2.BORDER_REPLICATE
    canvas_image[...] = cv2.copyMakeBorder(crop_image, pad_top, pad_bottom, pad_left, pad_right, border)
    canvas_alpha[pad_top:pad_top + crop_alpha.shape[0], pad_left:pad_left + crop_alpha.shape[1]] = crop_alpha
    return canvas_image, canvas_alpha
