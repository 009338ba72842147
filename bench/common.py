"""Shared by the benchmarks: the data and results locations, the common options, loading (photo + mask) pairs,
the code revision and the load average."""

from __future__ import annotations

import argparse
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.imageio import read_rgb

ROOT = Path(__file__).resolve().parent.parent
DEV_ROOT = ROOT.parent / "shared" / "data" / "dev"
DEFAULT_DATA = DEV_ROOT / "eg1800_train_subset"
#: Every dev set, each read in place (never copied): tight hand-labelled portraits, then people in scenes
#: whose masks come from remove.bg (there IoU is the measure; their blocky edges make boundary F of little meaning).
DEV_SETS = (DEFAULT_DATA, DEV_ROOT / "people_in_scenes_removebg")
#: Full-size photos of people (the speed, memory, soak and contact-sheet benchmarks), read in place.
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
#: Where the benchmarks write their reports (committed), and the git-ignored cache of network outputs.
RESULTS = ROOT / "bench" / "results"
CACHE_DIR = RESULTS / "cache"


def add_data_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """--data (a dev set folder, default DEFAULT_DATA; with `several`, one or more, default every DEV_SETS)
    and --limit N (only the first N photos of each set)."""
    if several:
        parser.add_argument("--data", type=Path, nargs="+", default=list(DEV_SETS), metavar="FOLDER",
                            help="dev set folder(s) with images/ and masks/ (default: every dev set)")
    else:
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="FOLDER",
                            help="dev set folder with images/ and masks/ (default: the dev portraits)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N photos" + (" of each set" if several else "") + " (a quick run)")


def add_output_options(parser: argparse.ArgumentParser, *, cache: bool = False) -> None:
    """--out (the folder the reports go to, default bench/results) and, with `cache`, --cache (the folder of
    cached network outputs, default bench/results/cache)."""
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="FOLDER",
                        help="output folder (default bench/results)")
    if cache:
        parser.add_argument("--cache", type=Path, default=CACHE_DIR, metavar="FOLDER",
                            help="cache of network outputs (default bench/results/cache)")


@dataclass(frozen=True)
class Sample:
    """One dev-set pair: id, rgb uint8 HxWx3 and the hand-labelled mask as bool HxW."""

    stem: str
    rgb: np.ndarray
    mask: np.ndarray


def list_stems(data: Path, limit: int | None = None) -> list[str]:
    """Sorted ids of `data`/images/<id>.jpg that have a `data`/masks/<id>.png; the first `limit` if given."""
    images, masks = Path(data) / "images", Path(data) / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise SystemExit(f"No dev set at {data}: expected images/<id>.jpg and masks/<id>.png (see --data).")
    stems = sorted(p.stem for p in images.glob("*.jpg") if (masks / f"{p.stem}.png").is_file())
    return stems[:limit] if limit else stems


def load_sample(data: Path, stem: str) -> Sample:
    """Decode one pair with the app's own decoder; the mask is binarised at 128."""
    rgb = read_rgb(Path(data) / "images" / f"{stem}.jpg")
    mask = np.asarray(Image.open(Path(data) / "masks" / f"{stem}.png").convert("L")) > 127
    if mask.shape != rgb.shape[:2]:
        raise SystemExit(f"{stem}: mask {mask.shape} and photo {rgb.shape[:2]} differ in size.")
    return Sample(stem, rgb, mask)


def split_of(index: int) -> str:
    """Held-out split by position in the sorted list: even -> 'tune', odd -> 'holdout'."""
    return "tune" if index % 2 == 0 else "holdout"


def revision() -> str:
    """Short git commit of the checkout (read-only), '+' if the work tree has changes; '?' without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages as "a / b / c"; "?" where the system has none."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "?"


def shown(path: Path) -> str:
    """A path for messages: relative to the checkout when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_keeping_notes(path: Path, lines: list[str]) -> None:
    """Write a results file's generated `lines`, keeping the old file's notes: everything from its first "## "
    heading on (measurements and reasons written by hand, which a rerun must not erase)."""
    path = Path(path)
    old = path.read_text().splitlines() if path.is_file() else []
    notes = next((old[i:] for i, line in enumerate(old) if line.startswith("## ")), [])
    path.write_text("\n".join([*lines, *([""] + notes if notes else [])]) + "\n")
