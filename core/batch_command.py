"""`python -m core batch SRC DST`: the command around core.batch_jobs (plan, engine, progress bar, manifest).

Usage errors (options that do not go together, a SRC that is not a folder, Ray not installed) end with exit status
2 before any work; a run ends with 0 when every photo is written or already there, 1 when any failed, 130 when
interrupted (the manifest is still written, with "not started" rows).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
from pathlib import Path
from typing import TextIO

from core.batch_jobs import BatchRecipe, EngineError, complete_rows, new_run_id, plan, row, run_local, write_manifest
from core.errors import PortraitStudioError
from core.limits import pixel_limits
from core.output import FolderLock
from core.storage import open_location

__all__ = ["run_batch"]

#: Output suffix by --format.
SUFFIXES = {"jpeg": ".jpg"}


def _engine_checks(args: argparse.Namespace) -> None:
    """Refuse engine options that cannot work, with what to do instead."""
    if args.workers < 1:
        raise PortraitStudioError("--workers must be at least 1.")
    if args.threads_per_worker is not None and args.threads_per_worker < 1:
        raise PortraitStudioError("--threads-per-worker must be at least 1.")
    if args.gpus_per_worker < 0 or args.max_retries < 0:
        raise PortraitStudioError("--gpus-per-worker and --max-retries cannot be negative.")
    if args.engine == "local":
        ray_only = [name for name, given in (("--address", args.address is not None), ("--workers", args.workers != 1),
                    ("--threads-per-worker", args.threads_per_worker is not None),
                    ("--gpus-per-worker", args.gpus_per_worker != 0)) if given]
        if ray_only:
            raise PortraitStudioError(f"{', '.join(ray_only)}: Ray options; add --engine ray to use them.")
        return
    if importlib.util.find_spec("ray") is None:  # not imported here: core.batch_ray sets its variables first
        raise PortraitStudioError(
            "--engine ray needs Ray, which is not installed: pip install -r requirements-ray.txt "
            "(or pip install '.[ray]'), or use --engine local."
        )


def _recipe(args: argparse.Namespace) -> BatchRecipe:
    from core.cli import KINDS, _recipe_options

    id_photo = getattr(args, "id_photo", None) not in (None, "none")
    command = args.kind or ("replace" if args.background is not None or id_photo else "cutout")
    if command != "replace" and args.background is not None:
        raise PortraitStudioError(f"--background goes with --kind replace, not --kind {command}.")
    options = _recipe_options(args, command)
    background = options["background"]
    if args.format == "jpeg" and (command == "cutout" or (background is not None and background.kind == "transparent")):
        raise PortraitStudioError("JPEG cannot store transparency: use --format png or webp, or choose a background.")
    return BatchRecipe(KINDS[command], SUFFIXES.get(args.format, "." + args.format), args.model, args.device,
                       str(args.weights) if args.weights else None, options, pixel_limits())


def run_batch(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run `python -m core batch` with parsed `args`; returns the exit status."""
    from core.cli import ProgressLine

    try:
        _engine_checks(args)
        recipe = _recipe(args)
        src, dst = open_location(args.src), open_location(args.dst)
        if src.kind() == "file":
            raise PortraitStudioError(f"{args.src} is a file: batch takes a folder (for one photo use cutout or replace).")
        if src.is_local and src.kind() == "missing":
            raise PortraitStudioError(f"{args.src} does not exist.")
        if dst.kind() == "file":
            raise PortraitStudioError(f"{args.dst} is a file: DST must be a folder or a prefix.")
        segmenter = recipe.segmenter() if args.engine == "local" else None
        if dst.is_local:
            Path(dst.root).mkdir(parents=True, exist_ok=True)
        lock = FolderLock(Path(dst.root)) if dst.is_local else contextlib.nullcontext()
        with lock:
            work = plan(src, dst, recipe.suffix, args.overwrite)
            if dst.is_local:  # temporary files of a killed run: under our lock no live run owns them
                for leftover in work.leftovers:
                    dst.delete(leftover)
            return _run(args, recipe, src, dst, work, segmenter, stdout, stderr, ProgressLine(stderr, "photos"))
    except PortraitStudioError as exc:
        print(f"error: {exc}", file=stderr)
        return 2


def _run(args, recipe, src, dst, work, segmenter, stdout, stderr, bar) -> int:
    """Process `work.todo` on the chosen engine, then write the manifest and the closing line."""
    run_id = new_run_id()
    print(f"{len(work.todo)} photos to process, {len(work.done)} already in {dst.uri}"
          f"{' (left as they are)' if work.done else ''}; engine: {args.engine}", file=stdout)
    rows = [row(job, src, dst, "skipped (exists)") for job in work.done]
    written = failed = 0

    def on_row(status: dict) -> None:
        nonlocal written, failed
        rows.append(status)
        if status["status"] == "failed":
            failed += 1
            bar.clear()
            print(f"error: {status['input']}: {status['error']}", file=stderr)
        else:
            written += 1
        bar.update(written + failed, len(work.todo), Path(status["input"]).name)

    try:
        if args.engine == "local":
            run_local(work.todo, recipe, src, dst, segmenter, on_row)
        else:
            from core.batch_ray import RayOptions, run_on_ray

            run_on_ray(work.todo, recipe, src, dst, RayOptions.from_args(args), on_row)
    except EngineError as exc:
        bar.clear()
        rows = complete_rows(work.jobs, rows, src, dst, "failed", str(exc))
        manifest = write_manifest(dst, run_id, rows)
        print(f"error: {exc}; {written} written; manifest: {dst.show(manifest)}", file=stderr)
        return 1
    except KeyboardInterrupt:
        bar.clear()
        rows = complete_rows(work.jobs, rows, src, dst, "not started", "the run was interrupted")
        manifest = write_manifest(dst, run_id, rows)
        print(f"interrupted: {written} written; manifest: {dst.show(manifest)}", file=stderr)
        return 130
    rows = complete_rows(work.jobs, rows, src, dst)
    failed = sum(item["status"] == "failed" for item in rows)
    manifest = write_manifest(dst, run_id, rows)
    if work.todo:
        bar.close()
    print(f"{written} written, {failed} failed, {len(work.done)} already there; manifest: {dst.show(manifest)}",
          file=stdout)
    return 1 if failed else 0
