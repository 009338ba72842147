"""Contact sheet: composites of varied people photos, the seed refinement next to the new defaults.

    python -m bench.contact_sheet [--photos ../shared/data/photos] [--out bench/results/contact_sheet.jpg]

Rows are photos (a fixed list, chosen for variety of hair, clothes and backgrounds); columns are the photo,
then composites on a white, a dark and a busy background (a real scene: a person-free, sharp crop of a rice
field from ../shared/data/photos, cover-fitted to each photo the way the app fits an image background),
each as "seed" (the unpadded network input and bench.quality.seed_settings() refinement, every colour
option off: what the project did before) next to "new" (RefineSettings() and FinishSettings() defaults), then 4x-ish zooms of one edge
(around the top of the new mask's contour, usually hair) on the white and the dark background, seed and
new. The crop window is drawn in yellow on the photo. The sheet shows photos that may not be
redistributed: it is written for looking at, not for committing (git-ignored).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench.common import PHOTOS as DEFAULT_PHOTOS
from bench.common import RESULTS
from bench.quality import REMBG_INPUT, seed_settings
from core.composite import Background
from core.finishing import FinishSettings
from core.imageio import read_rgb
from core.pipeline import alpha_from_prediction, predict, render
from core.refine import RefineSettings
from core.segmentation import get_segmenter
from core.weights import DEFAULT_MODEL

DEFAULT_OUT = RESULTS / "contact_sheet.jpg"

#: Eight photos, chosen by eye for variety: hair (red waves, afro, blonde, curly, updo, long wavy, short),
#: old backgrounds (pink, grey, green foliage, bokeh, white, studio), framing (face, full body, two people).
PHOTOS = (
    "aligned_face__img_1695.png",  # red wavy hair on a pink backdrop
    "aligned_face__img_1588.png",  # afro-textured hair, red top, grey backdrop
    "human__480112-637286191695715805-16x9.jpg",  # blonde hair against green foliage (1920x1080)
    "human__Two_dancers.jpg",  # two full-body dancers, flying hair and limbs, grey wall
    "human__f2dc6965e31f7ff0bb54618d53437006.jpg",  # crouching, long dark hair, bokeh background
    "portrait__kid2.jpg",  # curly updo with loose wisps on white
    "portrait__kid3.jpg",  # long wavy hair, green T-shirt, grey backdrop
    "portrait__man5.jpg",  # dark curly hair, blue-grey backdrop (1920x1080)
)
#: The busy background: a person-free crop (x0, x1) of a sharp rice-field photo, between the two children.
BUSY_PHOTO = "human__language_1280p.jpg"
BUSY_COLUMNS = (345, 675)

WHITE = (255, 255, 255)
DARK = (20, 22, 28)
TILE = (200, 250)  # composite tile (width, height)
ZOOM = 250  # zoom tile side
ZOOM_PCT = 8.0  # zoom window side, % of the photo's long side (at least 40 px)
PAD = 2
HEADER = 46
SEED_FINISH = FinishSettings(decontaminate=False, harmonize=False, light_wrap=False)


@dataclass
class Column:
    """A labelled column of the sheet: two header lines."""

    top: str
    bottom: str
    width: int


# ------------------------------------------------------------------------------------------ geometry


def framing(alpha: np.ndarray, aspect: float, margin_pct: float = 6.0) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): a window of width/height `aspect` around the subject (alpha >= 0.5) plus a margin,
    grown on its short side to the aspect, shifted and clipped to stay inside the frame. No subject: the frame."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha >= 0.5)
    if ys.size == 0:
        return 0, h, 0, w
    m = margin_pct / 100.0 * max(h, w)
    y0, y1 = max(0.0, ys.min() - m), min(float(h), ys.max() + 1 + m)
    x0, x1 = max(0.0, xs.min() - m), min(float(w), xs.max() + 1 + m)
    bh, bw = y1 - y0, x1 - x0
    if bw / bh < aspect:
        bw = min(float(w), bh * aspect)
    else:
        bh = min(float(h), bw / aspect)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    top = round(min(max(0.0, cy - bh / 2), h - bh))
    left = round(min(max(0.0, cx - bw / 2), w - bw))
    return top, top + round(bh), left, left + round(bw)


def edge_window(alpha: np.ndarray, pct: float = ZOOM_PCT) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): a square around the topmost point of the subject's contour (alpha >= 0.5 next to
    alpha < 0.5), the point a quarter of the way down, so background and subject both show. Contour points
    within a quarter window of the top of the frame or half a window of its sides are skipped, so a head
    cut by the frame gives the side of the hair, not a square of hair. Clipped to the frame."""
    h, w = alpha.shape
    side = min(h, w, max(40, round(pct / 100.0 * max(h, w))))
    mask = (alpha >= 0.5).astype(np.uint8)
    inner = cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    contour = (mask > 0) & (inner == 0)  # the frame's edge is not contour (replicated border)
    contour[: side // 4] = False
    contour[:, : side // 2] = False
    contour[:, w - side // 2 :] = False
    ys, xs = np.nonzero(contour)
    if ys.size == 0:
        top, cx = h // 2, w // 2
    else:
        top = int(ys.min())
        row = np.sort(xs[ys == top])
        runs = np.split(row, np.nonzero(np.diff(row) > 1)[0] + 1)  # a head cut by the frame: its two sides
        cx = int(np.median(max(runs, key=len)))  # the longest run (the first of equals: the left side)
    y0 = min(max(0, top - side // 4), h - side)
    x0 = min(max(0, cx - side // 2), w - side)
    return y0, y0 + side, x0, x0 + side


def fit(image: np.ndarray, size: tuple[int, int], fill: int = 224) -> np.ndarray:
    """uint8 HxWx3 -> exactly size=(width, height), scaled to fit (area when shrinking, nearest when enlarging:
    the zooms show real pixels) and centred on `fill`."""
    w, h = size
    scale = min(w / image.shape[1], h / image.shape[0])
    nw, nh = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.full((h, w, 3), fill, np.uint8)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return out


def busy_background(photos: Path) -> tuple[np.ndarray, str]:
    """The busy plate (uint8 HxWx3) and a note saying what it is; a procedural texture if the photo is missing."""
    path = photos / BUSY_PHOTO
    if path.is_file():
        x0, x1 = BUSY_COLUMNS
        return np.ascontiguousarray(read_rgb(path)[:, x0:x1]), f"{BUSY_PHOTO}, columns {x0}-{x1} (no person)"
    rng = np.random.default_rng(7)  # fallback: colourful random rectangles, sharp at any size
    plate = np.zeros((900, 600, 3), np.uint8)
    for _ in range(400):
        y, x = rng.integers(0, 900), rng.integers(0, 600)
        cv2.rectangle(plate, (int(x), int(y)), (int(x + rng.integers(10, 120)), int(y + rng.integers(10, 120))),
                      tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    return plate, "procedural texture (busy photo not found)"


# ------------------------------------------------------------------------------------------- sheet


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(tile, text[:34], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _pad(tile: np.ndarray) -> np.ndarray:
    return np.pad(tile, ((PAD, PAD), (PAD, PAD), (0, 0)), constant_values=160)


def photo_row(name: str, rgb: np.ndarray, segmenter, seed_segmenter, busy: np.ndarray) -> tuple[list[np.ndarray], dict[str, float]]:
    """The tiles of one photo, left to right, and its timings (`segmenter`: the default model's; the seed ran u2netp)."""
    stats: dict[str, float] = {}
    t = time.perf_counter()
    prediction = predict(rgb, segmenter)
    stats["net_s"] = time.perf_counter() - t
    shape = rgb.shape[:2]
    seed_prediction = predict(rgb, seed_segmenter, inference=REMBG_INPUT)  # the seed's network input
    _, seed_alpha = alpha_from_prediction(seed_prediction, shape, seed_settings(), image=rgb)
    _, new_alpha = alpha_from_prediction(prediction, shape, RefineSettings(), image=rgb)
    backgrounds = {
        "white": Background(kind="color", color=WHITE),
        "dark": Background(kind="color", color=DARK),
        "busy": Background(kind="image", image=busy),
    }
    t = time.perf_counter()
    outputs = {
        (bg, variant): render(rgb, alpha, "composite", background, finishing)
        for bg, background in backgrounds.items()
        for variant, alpha, finishing in (("seed", seed_alpha, SEED_FINISH), ("new", new_alpha, FinishSettings()))
    }
    stats["render_s"] = time.perf_counter() - t
    y0, y1, x0, x1 = framing(new_alpha, TILE[0] / TILE[1])
    zy0, zy1, zx0, zx1 = edge_window(new_alpha)
    marked = rgb.copy()
    thick = max(2, round(max(shape) / 300))
    cv2.rectangle(marked, (zx0, zy0), (zx1 - 1, zy1 - 1), (255, 220, 0), thick)
    tiles = [_label(fit(marked[y0:y1, x0:x1], TILE), Path(name).stem.split("__")[-1])]
    for bg in backgrounds:
        for variant in ("seed", "new"):
            tiles.append(fit(outputs[(bg, variant)][y0:y1, x0:x1], TILE))
    for bg in ("white", "dark"):
        for variant in ("seed", "new"):
            tiles.append(fit(outputs[(bg, variant)][zy0:zy1, zx0:zx1], (ZOOM, ZOOM)))
    stats["zoom_px"] = zy1 - zy0
    stats["alpha_diff"] = float(np.abs(seed_alpha - new_alpha).mean())
    return tiles, stats


def header(columns: list[Column], note: str) -> np.ndarray:
    """Two-line column labels over the tiles, and a one-line legend above them."""
    width = sum(c.width + 2 * PAD for c in columns)
    out = np.full((HEADER + 16, width, 3), 255, np.uint8)
    cv2.putText(out, note, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    x = 0
    for c in columns:
        cv2.putText(out, c.top, (x + 6, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(out, c.bottom, (x + 6, 55), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += c.width + 2 * PAD
    return out


def columns() -> list[Column]:
    """The sheet's columns, left to right."""
    cols = [Column("photo", "(zoom window)", TILE[0])]
    for bg in ("white", "dark", "busy"):
        cols += [Column(bg, "seed", TILE[0]), Column(bg, "NEW", TILE[0])]
    for bg in ("white", "dark"):
        cols += [Column(f"zoom {bg}", "seed", ZOOM), Column(f"zoom {bg}", "NEW", ZOOM)]
    return cols


def assemble(rows: list[list[np.ndarray]], note: str) -> np.ndarray:
    """Header + one padded row per photo; composite tiles are top-aligned in the taller zoom row."""
    height = max(TILE[1], ZOOM) + 2 * PAD
    lines = []
    for tiles in rows:
        padded = [_pad(t) for t in tiles]
        padded = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in padded]
        lines.append(np.concatenate(padded, axis=1))
    return np.concatenate([header(columns(), note), *lines], axis=0)


def save_jpeg(sheet: np.ndarray, path: Path, max_bytes: int = 3_000_000) -> int:
    """Write the sheet as JPEG at the highest quality (90, then lower) that fits in max_bytes; returns the quality."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for quality in (90, 85, 80, 75, 70, 60):
        buffer = io.BytesIO()
        Image.fromarray(sheet).save(buffer, "JPEG", quality=quality, optimize=True)
        if buffer.tell() <= max_bytes or quality == 60:
            path.write_bytes(buffer.getvalue())
            return quality
    raise AssertionError("unreachable")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.contact_sheet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of people photos")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JPEG (default bench/results/contact_sheet.jpg)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Render every listed photo that exists and write the sheet."""
    args = build_parser().parse_args(argv)
    if not args.photos.is_dir():
        raise SystemExit(f"No photos at {args.photos} (see --photos).")
    segmenter = get_segmenter(DEFAULT_MODEL, "cpu", allow_download=False)
    seed_segmenter = get_segmenter("u2netp", "cpu", allow_download=False)
    busy, busy_note = busy_background(args.photos)
    rows = []
    for name in PHOTOS:
        path = args.photos / name
        if not path.is_file():
            print(f"  {name}: missing, skipped", file=sys.stderr)
            continue
        rgb = read_rgb(path)
        tiles, stats = photo_row(name, rgb, segmenter, seed_segmenter, busy)
        rows.append(tiles)
        print(f"  {name}: {rgb.shape[1]}x{rgb.shape[0]}, network {stats['net_s']:.2f} s, 6 composites "
              f"{stats['render_s']:.2f} s, zoom window {stats['zoom_px']} px, mean |seed - new alpha| "
              f"{stats['alpha_diff']:.4f}")
    if not rows:
        raise SystemExit(f"None of the listed photos is in {args.photos}.")
    note = ("seed = seed_settings() refinement, colour options off (before);  NEW = RefineSettings() + "
            f"FinishSettings() defaults;  busy = {busy_note}")
    sheet = assemble(rows, note)
    quality = save_jpeg(sheet, args.out)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, JPEG quality {quality}, "
          f"{args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
