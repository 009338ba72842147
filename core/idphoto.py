"""ID photos: place the head by the face (eyes and chin from `core.faces`, crown from the matte) to a preset's
size and rules (`core.id_presets`), say in words when a photo cannot meet them, and tile a print sheet.

The head height is measured from the chin to the crown, as the rules do: the crown is the matte's topmost
opaque pixel above the face (the top of the hair), the chin the detector's estimate. The scale makes that
height the middle of the preset's allowed range; the face is centred, and the crown (or the eye line, for
rules that fix it) goes where the preset says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.arrays import as_alpha, check_image
from core.errors import PortraitStudioError
from core.faces import Face, detect_faces
from core.framing import MM_PER_INCH, Placement
from core.id_presets import IdPreset

__all__ = [
    "MAX_ENLARGEMENT", "SHEET_DPI", "SHEET_INCHES", "IdLayout", "IdPhotoError", "crown_y", "id_layout",
    "pixels_per_unit", "print_sheet",
]

#: The most a printed ID photo may enlarge the photo's head: the print then holds at least a third of its DPI in real
#: detail (a passport photo's 34 mm head needs 134 px in the photo at 300 DPI, 268 px at 600 DPI). A screen-size
#: (px) preset never enlarges: its canvas shrinks instead, since a website scales it anyway.
MAX_ENLARGEMENT = 3.0
#: A second face this confident (relative to the first) means two people in the photo.
SECOND_FACE_SHARE = 0.75
SHEET_INCHES = (4.0, 6.0)  # 10x15 cm photo paper
SHEET_DPI = 300.0
SHEET_GAP_MM = 2.0  # between photos, where the cut guides run
GUIDE_GREY = 150


class IdPhotoError(PortraitStudioError):
    """The photo cannot meet an ID-photo preset; the message says why and what photo would."""


@dataclass(frozen=True)
class IdLayout:
    """Where the photo goes on an ID preset's canvas, and notes for the user."""

    placement: Placement
    notes: tuple[str, ...] = ()


def pixels_per_unit(preset: IdPreset, dpi: float) -> float:
    """Pixels per unit of `preset` (millimetre or inch) at `dpi`; 1 for a screen (px) preset."""
    return {"mm": dpi / MM_PER_INCH, "in": dpi, "px": 1.0}[preset.unit]


def crown_y(alpha: np.ndarray, face: Face) -> float | None:
    """The top of the head in photo pixels: the first row, over the face's columns, where alpha > 0.5 (None if none)."""
    a = as_alpha(alpha)
    left, _, right, _ = face.box
    columns = slice(max(0, int(left)), min(a.shape[1], int(math.ceil(right))))
    rows = np.flatnonzero((a[:, columns] > 0.5).any(axis=1))
    return float(rows[0]) if rows.size else None


def _faces_message(preset: IdPreset, count: int) -> str:
    if count == 0:
        return (
            f"No face found, and a {preset.label} photo is placed by the face. Use a photo of one person looking at "
            f"the camera, face uncovered and well lit."
        )
    return f"Found {count} faces: a {preset.label} photo shows one person. Crop the photo to one person first."


def id_layout(image: np.ndarray, alpha: np.ndarray, preset: IdPreset, dpi: float) -> IdLayout:
    """image uint8 HxWx3, alpha float32 HxW in [0, 1] → the IdLayout for `preset` at `dpi` (ignored for px presets).

    Raises IdPhotoError when the photo cannot meet the preset: no face or several, the crown cut by the photo's
    top edge, a head too small for the size and DPI (over MAX_ENLARGEMENT), the head or shoulders cut by the frame.
    """
    image = check_image(image, "image")
    alpha = as_alpha(alpha)
    faces = detect_faces(image)
    confident = [f for f in faces if f.score >= SECOND_FACE_SHARE * faces[0].score] if faces else []
    if len(confident) != 1:
        raise IdPhotoError(_faces_message(preset, len(confident)))
    face = confident[0]
    crown = crown_y(alpha, face)
    if crown is None or crown >= face.box[3]:
        raise IdPhotoError(
            "The mask does not cover the head, so its top cannot be measured. Check the mask (Touch up), or use a photo "
            "with a plainer background."
        )
    if crown < 1:
        raise IdPhotoError(
            "The top of the head is cut by the photo's top edge, so the head's height cannot be measured. Use a photo "
            "with some space above the hair."
        )
    per_unit = pixels_per_unit(preset, dpi)
    head_photo = face.chin_y - crown
    notes = []
    if not preset.printed and preset.head_target > head_photo:  # shrink the whole canvas: no enlargement
        per_unit = head_photo / preset.head_target
        notes.append(
            f"made at {round(preset.width * per_unit)}x{round(preset.height * per_unit)} px, not {preset.size_text}: "
            f"the photo's head is {head_photo:.0f} px tall, and a larger picture would only enlarge it"
        )
    width, height = round(preset.width * per_unit), round(preset.height * per_unit)
    head_needed = preset.head_target * per_unit
    scale = head_needed / head_photo
    at = f" at {dpi:g} DPI" if preset.printed else ""
    if scale > MAX_ENLARGEMENT:
        lower = "" if not preset.printed or dpi <= 300 else (
            f", or a lower DPI (at 300 DPI it needs {preset.head_target * pixels_per_unit(preset, 300) / MAX_ENLARGEMENT:.0f} px)"
        )
        raise IdPhotoError(
            f"The head is {head_photo:.0f} px tall in this photo; a {preset.label} photo{at} needs at least "
            f"{head_needed / MAX_ENLARGEMENT:.0f} px (it would be enlarged {scale:.1f}x and print soft). Use a larger "
            f"or closer photo{lower}."
        )
    eyes_x, eyes_y = face.eyes_center
    shift_x = width / 2 - scale * eyes_x
    if preset.eyes is not None:
        shift_y = (height - sum(preset.eyes) / 2 * per_unit) - scale * eyes_y
    else:
        shift_y = preset.crown_gap * per_unit - scale * crown
    placement = Placement(scale, shift_x, shift_y, (height, width))
    problems = []
    if scale * crown + shift_y < 0:
        problems.append("the top of the head would be cut by the frame")
    if scale * face.chin_y + shift_y > height:
        problems.append("the chin would be cut by the frame")
    photo_bottom = scale * alpha.shape[0] + shift_y
    if photo_bottom < height - 0.5 and (alpha[-1] > 0.5).any():
        problems.append(
            f"the photo ends {(height - photo_bottom) / per_unit:.0f} {preset.unit} above the frame's bottom, so the "
            f"shoulders would stop in mid-air (use a photo that shows the shoulders)"
        )
    if problems:
        raise IdPhotoError(f"This photo cannot make a {preset.label} photo: {'; '.join(problems)}.")
    photo_right = scale * alpha.shape[1] + shift_x
    for side, inside, column in (("left", shift_x, alpha[:, 0]), ("right", width - photo_right, alpha[:, -1])):
        if inside > 0.5 and (column > 0.5).any():
            notes.append(
                f"the photo ends {inside / per_unit:.1f} {preset.unit} inside the frame's {side} edge, where the subject "
                f"is cut: a photo with more room at that side would fill it"
            )
    if scale > 1.0:
        notes.append(f"the photo's head was enlarged {scale:.2f}x for the {preset.label} size{at}; a larger photo prints sharper")
    return IdLayout(placement, tuple(notes))


def print_sheet(photo: np.ndarray, preset: IdPreset) -> np.ndarray:
    """An ID photo uint8 hxwx3 made at SHEET_DPI → uint8 HxWx3 10x15 cm (4x6 in) sheet at SHEET_DPI holding as
    many copies as fit (in the orientation that fits more), SHEET_GAP_MM apart, with thin grey cut guides
    running along every photo's edges to the sheet's borders."""
    photo = check_image(photo, "photo")
    h, w = photo.shape[:2]
    gap = round(SHEET_GAP_MM * SHEET_DPI / MM_PER_INCH)
    short, long = (round(side * SHEET_DPI) for side in SHEET_INCHES)

    def fits(sheet_h: int, sheet_w: int) -> tuple[int, int]:
        return max(0, (sheet_h - gap) // (h + gap)), max(0, (sheet_w - gap) // (w + gap))

    portrait, landscape = fits(long, short), fits(short, long)
    (rows, cols), (sheet_h, sheet_w) = (
        (portrait, (long, short)) if portrait[0] * portrait[1] >= landscape[0] * landscape[1] else (landscape, (short, long))
    )
    if rows * cols == 0:
        raise IdPhotoError(f"A {preset.label} photo ({w}x{h} px) does not fit on a 4x6 in sheet at {SHEET_DPI:g} DPI.")
    sheet = np.full((sheet_h, sheet_w, 3), 255, np.uint8)
    top = (sheet_h - rows * h - (rows - 1) * gap) // 2
    left = (sheet_w - cols * w - (cols - 1) * gap) // 2
    ys = [top + r * (h + gap) for r in range(rows)]
    xs = [left + c * (w + gap) for c in range(cols)]
    for y in ys:  # guides one pixel outside each photo's edge, across the whole sheet
        sheet[[y - 1, y + h]] = GUIDE_GREY
    for x in xs:
        sheet[:, [x - 1, x + w]] = GUIDE_GREY
    for y in ys:
        for x in xs:
            sheet[y:y + h, x:x + w] = photo
    return sheet

