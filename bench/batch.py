"""Memory and time of a batch through the Batch page's core (`core.batch`): is peak memory bounded?

    python -m bench.batch                       # 100 photos of 12 MP (about 10-15 minutes on 2 cores)
    python -m bench.batch --photos 5 --megapixels 2

The photos are one of ../shared/data/photos resized with Lanczos to the size asked and shifted sideways a
little per copy (so no two are the same bytes), saved as JPEG. They go through `Batch.add_uploads` (stored
in a temporary folder, as the page stores uploads) and `Batch.process_next` with the default recipe, one at a
time, as the page runs them; then `Batch.write_zip` with every output kind. Reports the peak resident size of
the process (VmHWM) after the model is loaded, after storing the uploads, after every tenth photo and after
the ZIP, and the median seconds per photo. Target: peak under 2.5 GB for 100 photos of 12 MP. Writes
bench/results/batch.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import PHOTOS, add_output_options, loadavg, shown

TARGET_MB = 2500


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_photos(count: int, megapixels: float) -> list[tuple[str, bytes]]:
    """`count` JPEGs of about `megapixels` MP from the largest people photo, each shifted a little."""
    source = max((p for p in PHOTOS.glob("*.jp*g")), key=lambda p: p.stat().st_size)
    with Image.open(source) as image:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        base = np.asarray(image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS))
    photos = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.fromarray(np.roll(base, 7 * index, axis=1)).save(buffer, "JPEG", quality=90)
        photos.append((f"photo{index:03d}.jpg", buffer.getvalue()))
    return photos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--megapixels", type=float, default=12.0)
    add_output_options(parser)
    args = parser.parse_args(argv)

    from core.batch import Batch, Recipe
    from core.composite import Background
    from core.finishing import FinishSettings
    from core.refine import RefineSettings
    from core.segmentation import get_segmenter
    from core.weights import DEFAULT_MODEL, REGISTRY

    started = time.perf_counter()
    load_at_start = loadavg()
    segmenter = get_segmenter(DEFAULT_MODEL, "cpu", allow_download=False)
    marks = [("model loaded", _status_mb("VmHWM"), _status_mb("VmRSS"))]
    recipe = Recipe(RefineSettings.for_model(REGISTRY[DEFAULT_MODEL]), FinishSettings(), Background(kind="color"))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:
        batch = Batch(Path(folder))
        photos = make_photos(args.photos, args.megapixels)
        input_mb = sum(len(data) for _, data in photos) / 2**20
        batch.add_uploads(photos)
        del photos
        marks.append((f"{args.photos} uploads stored", _status_mb("VmHWM"), _status_mb("VmRSS")))
        seconds, failed = [], 0
        while (item := batch.process_next(segmenter, recipe)) is not None:
            seconds.append(item.seconds)
            failed += item.status != "done"
            if len(seconds) % 10 == 0 or len(seconds) == args.photos:
                marks.append((f"after photo {len(seconds)}", _status_mb("VmHWM"), _status_mb("VmRSS")))
                print(f"{len(seconds)}/{args.photos}: peak {marks[-1][1]:.0f} MB, {statistics.median(seconds):.2f} s per photo")
        zip_start = time.perf_counter()
        path = batch.write_zip(["result", "cutout", "mask"])
        zip_s, zip_mb = time.perf_counter() - zip_start, path.stat().st_size / 2**20
        marks.append(("ZIP written", _status_mb("VmHWM"), _status_mb("VmRSS")))
    peak = max(mark[1] for mark in marks)
    lines = [
        "# Batch: memory and time", "",
        f"`python -m bench.batch --photos {args.photos} --megapixels {args.megapixels:g}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {(time.perf_counter() - started) / 60:.1f} min; load "
        f"average at start {load_at_start}, at end {loadavg()} (2 CPUs). Default model `{DEFAULT_MODEL}` and recipe, "
        f"{args.photos} JPEGs of {args.megapixels:g} MP ({input_mb:.0f} MB in all) through `core.batch.Batch`, as the "
        "Batch page runs them.", "",
        f"**Peak resident memory: {peak:.0f} MB** (target < {TARGET_MB} MB: **{'met' if peak < TARGET_MB else 'not met'}**); "
        f"median {statistics.median(seconds):.2f} s per photo (result, cut-out and mask PNGs and two thumbnails each); "
        f"{failed} failed; the ZIP of every output: {zip_mb:.0f} MB in {zip_s:.1f} s.", "",
        "| moment | peak so far (MB) | resident now (MB) |", "| --- | ---: | ---: |",
        *[f"| {name} | {hwm:.0f} | {rss:.0f} |" for name, hwm, rss in marks], "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"peak {peak:.0f} MB; written {shown(args.out / 'batch.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
