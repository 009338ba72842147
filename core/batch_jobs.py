"""A large batch on any engine: every photo under SRC through one recipe into DST, a re-run doing only what is missing.

The engine-independent part of `python -m core batch` (the engines: `run_local` here, `core.batch_ray`):

- `plan` lists SRC and DST once (a folder, a shared mount or object storage: `core.storage`), names one output per
  photo (the photo's relative path with the output suffix, `core.output.output_names` within each folder) and
  leaves out what DST already holds, unless overwriting.
- `process_job` runs one photo with the full recipe (the CLI's settings and preset file: `BatchRecipe`), writes it
  all or nothing, and returns its status row. It never raises for one bad photo: a corrupt file, a refused size or
  a write that fails is a "failed" row with the reason in words.
- The rows go to one manifest per run, `DST/_runs/<run-id>.jsonl` (object storage cannot append, so it is written
  once at the end). An engine may lose a photo (a worker killed on every try): `complete_rows` gives every input
  without a row a "failed" row, so nothing is silently missing.
"""

from __future__ import annotations

import datetime
import json
import queue
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from core.compose import OutputKind
from core.errors import PortraitStudioError
from core.imageio import IMAGE_SUFFIXES, DecodedImage, decode_image
from core.limits import MAX_PHOTO_BYTES, PixelLimits, pixel_limits, set_pixel_limits
from core.output import PART_SUFFIX, output_names
from core.storage import FileEntry, Location

__all__ = [
    "BatchRecipe", "EngineError", "Job", "Plan", "RUNS_FOLDER", "complete_rows", "new_run_id", "plan", "process_job", "run_local",
    "write_manifest",
]

#: The folder under DST that holds one manifest per run.
RUNS_FOLDER = "_runs"
#: Every status row has these keys; `status` is "written", "failed", "skipped (exists)" or "not started".
ROW_KEYS = ("input", "output", "status", "error", "seconds", "needs_a_look")


class EngineError(PortraitStudioError):
    """An engine stopped before every photo had its row (the rows that came back stand)."""


@dataclass(frozen=True)
class BatchRecipe:
    """Everything applied to every photo, picklable so that workers on other machines get the same recipe.

    kind: what is written; suffix: the output's (".png", ".jpg", ".webp"...); model, device, weights: as the
    CLI's --model/--device/--weights; options: core.pipeline.process keyword arguments (settings, finishing,
    inference, background, frame, shadow, output); limits: the pixel limits in force where the recipe was made.
    """

    kind: OutputKind
    suffix: str
    model: str
    device: str = "auto"
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    limits: PixelLimits = field(default_factory=pixel_limits)

    def segmenter(self):
        """The recipe's network(s), built in this process with its pixel limits applied."""
        from core.segmentation import get_segmenter

        set_pixel_limits(self.limits.max_pixels / 1e6, self.limits.working_pixels / 1e6)
        return get_segmenter(self.model, self.device, weights_path=self.weights)


@dataclass(frozen=True)
class Job:
    """One photo: its path relative to SRC, its output's relative to DST (POSIX separators), its size in bytes."""

    source: str
    target: str
    size: int = 0


@dataclass(frozen=True)
class Plan:
    """What a run does: `todo` (in input order), `done` (outputs already in DST, left alone), and `leftovers`
    (temporary files of killed runs in DST, relative paths)."""

    todo: list[Job]
    done: list[Job]
    leftovers: list[str]

    @property
    def jobs(self) -> list[Job]:
        """Every photo under SRC, done or not."""
        return sorted(self.todo + self.done, key=lambda job: job.source)


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(relative).parts)


def _inside(inner: Location, outer: Location) -> bool:
    """True when `inner` is `outer` or lies under it on the same filesystem."""
    if type(inner.filesystem) is not type(outer.filesystem):
        return False
    return inner.root == outer.root or inner.root.startswith(outer.root.rstrip("/") + "/")


def plan(src: Location, dst: Location, suffix: str, overwrite: bool = False) -> Plan:
    """List SRC's photos (recursively, hidden files left out) and DST's files once → the Plan; raises
    PortraitStudioError when SRC holds no photo or DST would mix with SRC."""
    if _inside(src, dst):
        raise PortraitStudioError(
            f"{src.uri} is {dst.uri} or inside it: outputs would land among the photos. Choose a DST outside SRC "
            f"(a DST inside SRC is fine: it is left out of the photos)."
        )
    excluded = dst.root[len(src.root.rstrip("/")) + 1:] + "/" if _inside(dst, src) else None
    photos = [
        entry for entry in src.files()
        if PurePosixPath(entry.relative).suffix.lower() in IMAGE_SUFFIXES and not _hidden(entry.relative)
        and not (excluded and (entry.relative + "/").startswith(excluded))
    ]
    if not photos:
        raise PortraitStudioError(f"No photos ({', '.join(IMAGE_SUFFIXES)}) under {src.uri}.")
    existing = dst.files()
    present = {entry.relative.casefold() for entry in existing}
    leftovers = [entry.relative for entry in existing if entry.relative.endswith(PART_SUFFIX)]
    todo: list[Job] = []
    done: list[Job] = []
    for job in _name_outputs(photos, suffix):
        (done if job.target.casefold() in present and not overwrite else todo).append(job)
    return Plan(todo, done, leftovers)


def _name_outputs(photos: list[FileEntry], suffix: str) -> Iterator[Job]:
    """One distinct output name per photo, folder by folder (core.output.output_names), in input order."""
    by_folder: dict[str, list[FileEntry]] = defaultdict(list)
    for entry in photos:
        by_folder[posix_parent(entry.relative)].append(entry)
    targets: dict[str, str] = {}
    for folder, entries in by_folder.items():
        names = output_names([PurePosixPath(entry.relative) for entry in entries], suffix)
        for entry, name in zip(entries, names):
            targets[entry.relative] = f"{folder}/{name}" if folder else name
    for entry in photos:
        yield Job(entry.relative, targets[entry.relative], entry.size)


def posix_parent(relative: str) -> str:
    """'a/b/c.jpg' → 'a/b'; 'c.jpg' → ''."""
    parent = str(PurePosixPath(relative).parent)
    return "" if parent == "." else parent


def row(job: Job, src: Location, dst: Location, status: str, error: str = "", seconds: float | None = None,
        needs_a_look: float | None = None) -> dict:
    """A status row (ROW_KEYS) for `job`; times in seconds, the needs-a-look score in [0, 1] (core.triage)."""
    return {"input": src.show(job.source), "output": dst.show(job.target), "status": status, "error": error,
            "seconds": None if seconds is None else round(seconds, 3),
            "needs_a_look": None if needs_a_look is None else round(needs_a_look, 4)}


def _reason(exc: BaseException) -> str:
    """What a status row says of an error: our own messages as they are, anything else named as unexpected."""
    return str(exc) if isinstance(exc, PortraitStudioError) else f"unexpected {type(exc).__name__}: {exc}"


def read_photo(job: Job, src: Location) -> DecodedImage:
    """The photo of `job`, read from SRC and decoded (raises PortraitStudioError with the reason)."""
    if job.size > MAX_PHOTO_BYTES:
        raise PortraitStudioError(
            f"{job.source} is {job.size / 2**20:.0f} MB, more than a photo can be ({MAX_PHOTO_BYTES >> 20} MB)."
        )
    return decode_image(src.read(job.source), name=job.source)


def process_job(job: Job, recipe: BatchRecipe, src: Location, dst: Location, segmenter,
                photo: DecodedImage | BaseException | None = None, write: Callable[[str, bytes], None] | None = None) -> dict:
    """Run `job` through `recipe` and write its output → its status row; never raises for one photo.

    `photo`: the photo already read (or the error reading it raised), for engines that read ahead; `write`
    (default `dst.write`): how the output's bytes reach DST, for engines that write behind.
    """
    from core.imageio import format_from_suffix
    from core.pipeline import process

    start = time.perf_counter()
    try:
        if isinstance(photo, BaseException):
            raise photo
        decoded = read_photo(job, src) if photo is None else photo
        result = process(decoded, segmenter, kind=recipe.kind, fmt=format_from_suffix(job.target), name=job.source,
                         **recipe.options)
        (write or dst.write)(job.target, result.encoded)
    except Exception as exc:  # noqa: BLE001 - one bad photo is a row, not the end of the run
        return row(job, src, dst, "failed", _reason(exc), time.perf_counter() - start)
    notes = "; ".join((*result.decoded.notes, *result.notes))
    return row(job, src, dst, "written", notes, time.perf_counter() - start, result.needs_a_look)


def run_local(jobs: list[Job], recipe: BatchRecipe, src: Location, dst: Location, segmenter,
              on_row: Callable[[dict], None]) -> None:
    """The local engine: every job in this process, in order, calling `on_row` with each status row.

    A small bounded pipeline keeps both cores busy: a reader thread reads and decodes the next photo while the
    current one is processed (at most one photo waits), and a writer thread writes the previous output (at
    most one waits). Pillow's decoder, zlib and file writes release the GIL.
    """
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def read_ahead() -> None:
        for job in jobs:
            try:
                item: DecodedImage | BaseException = read_photo(job, src)
            except Exception as exc:  # noqa: BLE001 - handed to process_job, which makes it the job's row
                item = exc
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return

    reader = threading.Thread(target=read_ahead, name="batch-reader", daemon=True)
    reader.start()
    writer = _Writer(dst, on_row)
    try:
        for job in jobs:
            photo = ahead.get()
            writer.poll()
            writer.report(process_job(job, recipe, src, dst, segmenter, photo=photo, write=writer.write))
    finally:
        stop.set()
        writer.wait()  # also after Ctrl-C: the write in flight ends whole, and its row says so


class _Writer:
    """Writes one output while the next photo is processed; a row is reported once its file is written."""

    def __init__(self, dst: Location, on_row: Callable[[dict], None]) -> None:
        self.dst, self.on_row = dst, on_row
        self.thread: threading.Thread | None = None
        self.errors: list[BaseException] = []
        self.status: dict | None = None

    def write(self, target: str, data: bytes) -> None:
        """process_job's `write`: wait for the write in flight (reporting its row), then start this one."""
        self.wait()

        def write() -> None:
            try:
                self.dst.write(target, data)
            except BaseException as exc:  # noqa: BLE001 - reported in the row
                self.errors.append(exc)

        self.thread = threading.Thread(target=write, name="batch-writer", daemon=True)
        self.thread.start()

    def report(self, status: dict) -> None:
        """A row from process_job: a written one waits for its file; any other goes out now."""
        if status["status"] == "written" and self.thread is not None:
            self.status = status
        else:
            self.on_row(status)

    def poll(self) -> None:
        """Report the write in flight if it has ended."""
        if self.thread is not None and not self.thread.is_alive():
            self.wait()

    def wait(self) -> None:
        """Wait for the write in flight and report its row."""
        if self.thread is None:
            return
        self.thread.join()
        status, errors = self.status, self.errors
        self.thread, self.status, self.errors = None, None, []
        if status is None:
            return
        if errors:
            status = {**status, "status": "failed", "error": _reason(errors[0]), "needs_a_look": None}
        self.on_row(status)


def complete_rows(jobs: Iterable[Job], rows: list[dict], src: Location, dst: Location, status: str = "failed",
                  error: str = "no status came back: its worker died on every try, or the engine dropped it") -> list[dict]:
    """`rows` plus a row for every job that has none, with `status` and `error` (one row per input)."""
    seen = {item["input"] for item in rows}
    return rows + [row(job, src, dst, status, error) for job in jobs if src.show(job.source) not in seen]


def new_run_id() -> str:
    """A run's id: its UTC start time and a random suffix, e.g. '20261202T051500Z-3f9a1c'."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def write_manifest(dst: Location, run_id: str, rows: list[dict]) -> str:
    """Write the run's rows, sorted by input, to DST/_runs/<run_id>.jsonl (one JSON object per line) → the
    manifest's relative path."""
    relative = f"{RUNS_FOLDER}/{run_id}.jsonl"
    ordered = sorted(rows, key=lambda item: item["input"])
    dst.write(relative, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in ordered).encode("utf-8"))
    return relative

