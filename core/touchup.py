"""Touch-up edits: erase and restore strokes, and whole-region clicks, applied to a matte.

An edit is resolution-free, so one list means the same on the 1280-px preview and the full-size photo::

    {"mode": "erase" | "restore", "radius": r, "points": [[x, y], ...]}            # a brush stroke
    {"mode": "erase" | "restore", "region": true, "points": [[x, y]]}              # a click on a region

x and y are fractions of the image's width and height (the point (0.5, 0.5) is the photo's centre), r a
fraction of its long side. A stroke may carry ``"snap": false`` (default true). A file holds
``{"version": 1, "edits": [...]}`` (`edits_to_json`, `parse_edits`).

`apply_edits` applies a list in order:

- **Stroke core.** Within half the radius of the stroke's polyline, alpha becomes exactly 0 (erase) or
  1 (restore).
- **Stroke band** (between half the radius and the radius). With snapping, the band is decided by the
  photo: every stroke core is a definite foreground/background hint, everything outside the bands keeps
  its value, and the band pixels are re-solved together by the closed-form matting of `core.matting`,
  so a stroke across hair leaves soft strands that follow the photo. Without snapping (or without the
  photo) the band blends from the stroke's value to the old one with a smoothstep, a soft round brush;
  with snapping that blend is where the solve starts and what it falls back to where colours cannot
  decide.
- **Regions.** A click erases the whole connected region of the matte under the pointer (alpha > 0.02,
  so the region's soft edge goes with it), or restores the connected region of the network's own output
  under the pointer (alpha > 0.5 there, with its soft edge): the part the refinement or an earlier edit
  dropped, such as a second person or a foot. Regions follow the network's output rather than colour
  similarity: the network already separates objects, and a colour flood-fill leaks across a subject whose
  clothes match the background.

Pixels farther than the radius from every stroke, and outside every clicked region, are unchanged bit
for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from core.arrays import as_alpha, check_image, is_number
from core.errors import SettingsError
from core.matting import UNKNOWN, matte_band

__all__ = ["EDITS_VERSION", "Edit", "apply_edits", "edits_to_json", "parse_edits", "stroke_distance"]

EDITS_VERSION = 1
Mode = Literal["erase", "restore"]
MODES = ("erase", "restore")
#: Largest brush radius, as a fraction of the long side, and the limits on what a file may hold.
MAX_RADIUS = 0.5
MAX_EDITS = 10_000
MAX_POINTS = 10_000
MAX_EDITS_BYTES = 16 << 20
#: Points may lie a little outside the photo (a stroke that runs off its edge); farther out is a mistake.
POINT_RANGE = (-1.0, 2.0)
#: A region is the connected part of the matte above REGION_LOW under the click (soft edges included); a
#: restored region is the network output's part above REGION_SOLID, grown by REGION_EDGE of the long side
#: into its own soft edge.
REGION_LOW, REGION_SOLID, REGION_EDGE = 0.02, 0.5, 0.005
#: Matting regularisation of the snapped band (as `RefineSettings.matting_smoothness`'s default).
SNAP_SMOOTHNESS = 1e-4


@dataclass(frozen=True)
class Edit:
    """One touch-up edit (hashable: a list of them keys the caches). See the module docstring for the units."""

    mode: Mode
    points: tuple[tuple[float, float], ...]
    radius: float = 0.0
    region: bool = False
    snap: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "points": [list(p) for p in self.points]}
        if self.region:
            out["region"] = True
        else:
            out["radius"] = self.radius
            if not self.snap:
                out["snap"] = False
        return out


def _edit_from(item: Any, index: int) -> Edit:
    where = f"Edit {index + 1}"
    if not isinstance(item, dict):
        raise SettingsError(f"{where} must be an object like {{\"mode\": \"erase\", \"radius\": 0.02, \"points\": [[0.5, 0.5]]}}.")
    unknown = sorted(set(item) - {"mode", "radius", "points", "region", "snap"})
    if unknown:
        raise SettingsError(f"{where} has unknown keys {unknown}; an edit has mode, radius, points (and region, snap).")
    mode = item.get("mode")
    if mode not in MODES:
        raise SettingsError(f"{where}: 'mode' must be 'erase' or 'restore', got {mode!r}.")
    region, snap = item.get("region", False), item.get("snap", True)
    if not isinstance(region, bool) or not isinstance(snap, bool):
        raise SettingsError(f"{where}: 'region' and 'snap' must be true or false.")
    points = item.get("points")
    if not isinstance(points, list) or not points or len(points) > MAX_POINTS:
        raise SettingsError(f"{where}: 'points' must be a list of 1 to {MAX_POINTS} [x, y] pairs.")
    lo, hi = POINT_RANGE
    parsed = []
    for point in points:
        if (not isinstance(point, (list, tuple)) or len(point) != 2 or not all(is_number(v) for v in point)
                or not all(math.isfinite(v) and lo <= v <= hi for v in point)):
            raise SettingsError(
                f"{where}: every point must be [x, y] as fractions of the width and height (0 to 1), got {point!r}."
            )
        parsed.append((float(point[0]), float(point[1])))
    if region:
        if len(parsed) != 1:
            raise SettingsError(f"{where}: a region edit has exactly one point (the click), got {len(parsed)}.")
        return Edit(mode, tuple(parsed), 0.0, True, True)
    radius = item.get("radius")
    if not is_number(radius) or not (0.0 < float(radius) <= MAX_RADIUS):
        raise SettingsError(
            f"{where}: 'radius' must be a fraction of the long side above 0 and at most {MAX_RADIUS}, got {radius!r}."
        )
    return Edit(mode, tuple(parsed), float(radius), False, snap)


def parse_edits(data: Any) -> tuple[Edit, ...]:
    """Edits from `{"version": 1, "edits": [...]}` (JSON text, bytes or the parsed object), or a bare list.

    Raises SettingsError naming the first bad edit and what to write instead.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SettingsError("The edits file is not UTF-8 text; save the edit list from the Touch-up page.") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SettingsError(f"The edits file is not valid JSON ({exc}); save it from the Touch-up page.") from None
    if isinstance(data, dict):
        if data.get("version") != EDITS_VERSION or set(data) != {"version", "edits"}:
            raise SettingsError(
                f'An edits file is {{"version": {EDITS_VERSION}, "edits": [...]}}; this one has keys {sorted(data)} '
                f"and version {data.get('version')!r}."
            )
        data = data["edits"]
    if not isinstance(data, list):
        raise SettingsError(f'An edits file is {{"version": {EDITS_VERSION}, "edits": [...]}}, got {type(data).__name__}.')
    if len(data) > MAX_EDITS:
        raise SettingsError(f"An edits file holds at most {MAX_EDITS} edits, this one {len(data)}.")
    return tuple(_edit_from(item, i) for i, item in enumerate(data))


def edits_to_json(edits: Iterable[Edit]) -> str:
    """The file form of a list of edits: {"version": 1, "edits": [...]} (what parse_edits reads back)."""
    return json.dumps({"version": EDITS_VERSION, "edits": [edit.to_dict() for edit in edits]}, indent=1)


# --------------------------------------------------------------------------------------- geometry


def stroke_distance(shape: tuple[int, int], edit: Edit, reach: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """(rows, cols) box of the pixels within `reach` px of the stroke, and float32 distances (px) of their
    centres to its polyline; the box is empty when the stroke lies farther than `reach` from the photo.

    Pixel (i, j) has its centre at ((j + 0.5) / W, (i + 0.5) / H) in edit coordinates.
    """
    height, width = shape
    pts = np.array(edit.points, np.float64) * (width, height)
    y0 = max(0, math.floor(pts[:, 1].min() - reach - 0.5))
    y1 = min(height, math.ceil(pts[:, 1].max() + reach + 0.5))
    x0 = max(0, math.floor(pts[:, 0].min() - reach - 0.5))
    x1 = min(width, math.ceil(pts[:, 0].max() + reach + 0.5))
    box = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    distance = np.full((max(0, y1 - y0), max(0, x1 - x0)), np.inf, np.float64)
    if distance.size == 0:
        return box, distance.astype(np.float32)
    segments = [(pts[0], pts[0])] if len(pts) == 1 else list(zip(pts[:-1], pts[1:]))
    for a, b in segments:  # each segment only over its own box, so a long stroke costs its area, not its box's
        sy0 = max(y0, math.floor(min(a[1], b[1]) - reach - 0.5))
        sy1 = min(y1, math.ceil(max(a[1], b[1]) + reach + 0.5))
        sx0 = max(x0, math.floor(min(a[0], b[0]) - reach - 0.5))
        sx1 = min(x1, math.ceil(max(a[0], b[0]) + reach + 0.5))
        if sy1 <= sy0 or sx1 <= sx0:
            continue
        cy = np.arange(sy0, sy1, dtype=np.float64)[:, None] + 0.5
        cx = np.arange(sx0, sx1, dtype=np.float64)[None, :] + 0.5
        d = b - a
        length2 = float(d @ d)
        t = 0.0 if length2 == 0 else np.clip(((cx - a[0]) * d[0] + (cy - a[1]) * d[1]) / length2, 0.0, 1.0)
        dist = np.hypot(cx - (a[0] + t * d[0]), cy - (a[1] + t * d[1]))
        view = distance[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        np.minimum(view, dist, out=view)
    return box, distance.astype(np.float32)


def _pixel_of(shape: tuple[int, int], point: tuple[float, float]) -> tuple[int, int] | None:
    height, width = shape
    row, col = math.floor(point[1] * height), math.floor(point[0] * width)
    return (row, col) if 0 <= row < height and 0 <= col < width else None


def _component_at(mask: np.ndarray, pixel: tuple[int, int]) -> np.ndarray | None:
    """bool HxW: the 8-connected component of `mask` holding `pixel`, or None when the pixel is not in mask."""
    if not mask[pixel]:
        return None
    _, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    return labels == labels[pixel]


# ------------------------------------------------------------------------------------------ apply


def apply_edits(
    alpha: np.ndarray,
    edits: Sequence[Edit],
    image: np.ndarray | None = None,
    network: np.ndarray | None = None,
) -> np.ndarray:
    """alpha float32 HxW in [0, 1] → float32 HxW with the edits applied in order (a new array).

    `image` (uint8 HxWx3, the photo at the matte's size) makes snapping strokes follow its edges; without it
    every band is a plain soft brush. `network` (float32 HxW in [0, 1], the network's output at the matte's
    size, before refinement) is what a restored region is taken from (default: `alpha` itself).
    """
    a = as_alpha(alpha)
    if not isinstance(edits, (list, tuple)) or not all(isinstance(edit, Edit) for edit in edits):
        raise SettingsError("edits must be a list of core.touchup.Edit; read a file with parse_edits().")
    if not edits:
        return a
    if image is not None:
        check_image(image, "image")
        if image.shape[:2] != a.shape:
            raise SettingsError(f"The photo {image.shape[:2]} must have the matte's size {a.shape} to snap strokes.")
    source = a if network is None else as_alpha(network, "network")
    if source.shape != a.shape:
        raise SettingsError(f"The network output {source.shape} must have the matte's size {a.shape}.")
    shape = a.shape
    long_side = max(shape)
    known = np.zeros(shape, bool)  # stroke cores and clicked regions: definite hints for the snapped bands
    band = np.zeros(shape, bool)  # bands of snapping strokes, solved together at the end
    smallest_band = math.inf
    for edit in edits:
        value = np.float32(0.0 if edit.mode == "erase" else 1.0)
        if edit.region:
            _apply_region(a, source, edit, value, known)
            continue
        radius = edit.radius * long_side
        box, distance = stroke_distance(shape, edit, radius)
        if distance.size == 0:
            continue
        core = distance <= radius / 2
        ring = ~core & (distance <= radius)
        view = a[box]
        view[core] = value
        known[box] |= core
        # smoothstep from the stroke's value at half the radius to the old value at the radius: the soft brush,
        # and with snapping the start (and prior) of the solve, which decides where the colours cannot
        t = np.clip((distance[ring] - radius / 2) / (radius / 2), 0.0, 1.0)
        keep = (t * t * (3 - 2 * t)).astype(np.float32)
        view[ring] = value + (view[ring] - value) * keep
        if edit.snap and image is not None:
            band[box] |= ring
            smallest_band = min(smallest_band, radius / 2)
    unknown = band & ~known
    if unknown.any():
        trimap = np.where(a >= 0.5, np.uint8(255), np.uint8(0))
        trimap[unknown] = UNKNOWN
        a = matte_band(image, a, smallest_band, smoothness=SNAP_SMOOTHNESS, trimap=trimap)
    return a


def _apply_region(a: np.ndarray, source: np.ndarray, edit: Edit, value: np.float32, known: np.ndarray) -> None:
    """Erase the matte's connected region under the click, or restore the network output's; in place."""
    pixel = _pixel_of(a.shape, edit.points[0])
    if pixel is None:
        return
    if edit.mode == "erase":
        region = _component_at(a > REGION_LOW, pixel)
        if region is not None:
            a[region] = value
            known |= region
        return
    solid = _component_at(source > REGION_SOLID, pixel)
    if solid is None:
        return
    size = 2 * max(1, round(REGION_EDGE * max(a.shape))) + 1
    grown = cv2.dilate(solid.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).view(bool)
    region = grown & (source > REGION_LOW)
    np.maximum(a, np.where(region, source, np.float32(0.0)), out=a)
    a[solid] = value
    known |= solid
