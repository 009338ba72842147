"""Shared by the benchmarks: the dev-set locations, loading (photo + mask) pairs, the code revision."""

from __future__ import annotations

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
RESULTS = ROOT / "bench" / "results"


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
