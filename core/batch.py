"""Batch work on disk: many photos through one recipe, with bounded memory and a streamed ZIP of the results.

A `Batch` lives in one folder. `Batch.add_uploads` stores each uploaded photo there (ZIP archives are
unpacked, photo by photo, with limits against archive bombs); `Batch.process_next` runs the next photo
through `core.pipeline` and writes its result, cut-out, mask and two thumbnails into the folder, keeping
only small records in memory; `Batch.write_zip` streams the chosen outputs from disk into a ZIP on disk.
However many photos there are, one photo's full-size arrays are in memory at a time. A photo that cannot be
read gets its reason and the others go on. No Streamlit here: the Batch page drives it.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from core.compose import compose, encode_picture
from core.composite import Background, mask_image, over_checkerboard
from core.errors import PortraitStudioError
from core.finishing import FinishSettings
from core.imageio import IMAGE_SUFFIXES, encode_image
from core.inspection import preview_copy
from core.limits import MAX_PHOTO_BYTES
from core.output import output_names, write_atomic
from core.framing import FrameSettings
from core.pipeline import process
from core.refine import RefineSettings
from core.segmentation import InferenceSettings
from core.shadow import ShadowSettings

__all__ = ["Batch", "BatchItem", "OUTPUT_KINDS", "Recipe"]

#: What a batch makes of each photo, and the folder each goes to in the ZIP.
OUTPUT_KINDS = {"result": "results", "cutout": "cutouts", "mask": "masks"}
THUMBNAIL_SIDE = 256
#: Limits on a ZIP archive of photos: its entries, and the bytes they unpack to.
MAX_ZIP_ENTRIES = 10_000
MAX_ZIP_BYTES = 8 << 30


@dataclass(frozen=True)
class Recipe:
    """Everything a batch applies to every photo (the dashboard's current settings)."""

    settings: RefineSettings | None
    finishing: FinishSettings
    background: Background
    inference: InferenceSettings | None = None
    frame: FrameSettings | None = None
    shadow: ShadowSettings | None = None


@dataclass
class BatchItem:
    """One photo of a batch: where its files are, and how it went."""

    name: str  # as uploaded (inside a ZIP: the archive's name / the entry's)
    stem: str  # distinct within the batch: output file names start with it
    source: Path | None  # the stored original; None when it could not even be stored
    status: str = "pending"  # pending, running, done or failed
    error: str = ""
    seconds: float = 0.0
    needs_a_look: float = float("nan")
    outputs: dict[str, Path] = field(default_factory=dict)  # kind → file
    thumbnails: dict[str, Path] = field(default_factory=dict)  # "result", "mask" → small JPEG/PNG


class Batch:
    """A batch of photos in `folder` (created if missing; the caller owns and deletes it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        for sub in ("inputs", "outputs", "thumbnails"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.items: list[BatchItem] = []
        self._lock = threading.Lock()  # one photo is taken from the queue at a time, even by two threads

    # ------------------------------------------------------------------------------------ adding

    def add_uploads(self, uploads: Iterable[tuple[str, bytes]]) -> list[BatchItem]:
        """Store uploaded files (photos, and ZIP archives of photos) as pending items; returns the new items.

        A ZIP that cannot be read, an entry over the limits or a file that is not a photo by its name becomes a
        failed item with the reason (its bytes are not kept)."""
        entries: list[tuple[str, bytes | None, str]] = []
        for name, data in uploads:
            if name.lower().endswith(".zip"):
                entries += _zip_entries(name, data)
            elif Path(name).suffix.lower() in IMAGE_SUFFIXES:
                entries.append((name, data, ""))
            else:
                entries.append((name, None, f"not a photo or a ZIP of photos ({', '.join(IMAGE_SUFFIXES)}, .zip)"))
        taken = [item.stem for item in self.items]
        stems = [n.rsplit(".png", 1)[0] for n in output_names([Path(PurePosixPath(n).name) for n, _, _ in entries], ".png", [f"{t}.png" for t in taken])]
        new = []
        for (name, data, error), stem in zip(entries, stems):
            item = BatchItem(name, stem, None)
            if data is None:
                item.status, item.error = "failed", error
            else:
                item.source = self.folder / "inputs" / f"{stem}{Path(name).suffix.lower()}"
                write_atomic(item.source, data)
            new.append(item)
        self.items += new
        return new

    # ---------------------------------------------------------------------------------- processing

    @property
    def pending(self) -> list[BatchItem]:
        return [item for item in self.items if item.status == "pending"]

    def process_next(self, segmenter, recipe: Recipe) -> BatchItem | None:
        """Run the next pending photo (None when none is left); never raises for a bad photo. The photo is marked
        running while it is processed, so another caller (a rerun of the page) takes the one after it."""
        with self._lock:
            pending = self.pending
            if not pending:
                return None
            item = pending[0]
            item.status = "running"
        start = time.perf_counter()
        try:
            self._process(item, segmenter, recipe)
            item.status = "done"
        except MemoryError:
            item.status, item.error = "failed", "this photo needs more memory than the machine has"
        except PortraitStudioError as exc:
            item.status, item.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the batch
            item.status, item.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
        item.seconds = time.perf_counter() - start
        return item

    def _process(self, item: BatchItem, segmenter, recipe: Recipe) -> None:
        result = process(
            str(item.source), segmenter, kind="composite", settings=recipe.settings, background=recipe.background,
            fmt="png", finishing=recipe.finishing, inference=recipe.inference, name=item.name, frame=recipe.frame,
            shadow=recipe.shadow,
        )
        item.needs_a_look = result.needs_a_look
        rgb, alpha = result.decoded.rgb, result.alpha
        outputs = self.folder / "outputs"
        # The cut-out and mask are framed like the result (a print sheet is of the result only).
        frame = dataclasses.replace(recipe.frame, print_sheet=False) if recipe.frame is not None else None

        def encoded(kind: str) -> bytes:
            return encode_picture(compose(rgb, alpha, kind, None, recipe.finishing, frame, recipe.shadow, result.decoded.dpi), "png")

        files = {
            "result": (f"{item.stem}-result.png", result.encoded),
            "cutout": (f"{item.stem}-cutout.png", encoded("cutout")),
            "mask": (f"{item.stem}-mask.png", encoded("mask")),
        }
        for kind, (name, data) in files.items():
            write_atomic(outputs / name, data)
            item.outputs[kind] = outputs / name
        shown = preview_copy(result.output, THUMBNAIL_SIDE)
        shown = over_checkerboard(shown, 8) if shown.shape[2] == 4 else shown
        thumbnails = {
            "result": (f"{item.stem}-result.jpg", encode_image(np.ascontiguousarray(shown), "jpeg", quality=85)),
            "mask": (f"{item.stem}-mask.png", encode_image(mask_image(preview_copy(alpha, THUMBNAIL_SIDE)), "png")),
        }
        for kind, (name, data) in thumbnails.items():
            write_atomic(self.folder / "thumbnails" / name, data)
            item.thumbnails[kind] = self.folder / "thumbnails" / name

    # ------------------------------------------------------------------------------------ results

    def worst_first(self) -> list[BatchItem]:
        """Failed photos first, then the done ones by needs-a-look score (highest first), then pending ones."""
        order = {"failed": 0, "done": 1, "running": 2, "pending": 3}
        return sorted(self.items, key=lambda i: (order[i.status], -(i.needs_a_look if i.status == "done" else 0.0)))

    def write_zip(self, kinds: Iterable[str], path: Path | None = None) -> Path:
        """A ZIP of the chosen output kinds (OUTPUT_KINDS) of every done photo, each kind in its folder, streamed
        from disk into a file on disk (PNGs are stored, not compressed again); returns its path."""
        kinds = [kind for kind in OUTPUT_KINDS if kind in set(kinds)]
        if not kinds:
            raise PortraitStudioError("Choose at least one of results, cut-outs and masks for the download.")
        path = path or self.folder / "portrait-studio-batch.zip"
        part = path.with_name(f".{path.name}.part")
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for item in self.items:
                for kind in kinds:
                    if kind in item.outputs:
                        archive.write(item.outputs[kind], f"{OUTPUT_KINDS[kind]}/{item.outputs[kind].name}")
        part.replace(path)
        return path


def _zip_entries(name: str, data: bytes) -> list[tuple[str, bytes | None, str]]:
    """The photos inside a ZIP archive as (name, bytes or None, reason when None); the archive itself failing
    is one entry with its reason."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir() and not PurePosixPath(i.filename).name.startswith(".")
                 and "__MACOSX" not in PurePosixPath(i.filename).parts]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [(name, None, f"not a readable ZIP archive ({exc})")]
    if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        return [(name, None, f"the archive holds more than {MAX_ZIP_ENTRIES} files or {MAX_ZIP_BYTES >> 30} GB: split it")]
    out = []
    for info in infos:
        entry = f"{name}/{info.filename}"
        if PurePosixPath(info.filename).suffix.lower() not in IMAGE_SUFFIXES:
            out.append((entry, None, "not a photo (by its name)"))
        elif info.file_size > MAX_PHOTO_BYTES:
            out.append((entry, None, f"larger than {MAX_PHOTO_BYTES >> 20} MB unpacked"))
        else:
            try:
                out.append((entry, archive.read(info), ""))
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                out.append((entry, None, f"cannot be unpacked ({exc})"))
    return out
