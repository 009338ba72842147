"""The transparent cut-out's PNG: what keeping the colours under fully transparent pixels costs, and which zlib level.

    python -m bench.png                  # 12 MP (the largest photo of ../shared/data/photos, resized)
    python -m bench.png --sizes 2,12

For each size: the default model's cut-out of the photo, encoded as PNG at zlib levels 1, 3 and 6, with the
colours under alpha 0 kept and cleared (`core.compose.hide_transparent_colours`); median of --repeats encodes,
each setting timed in turn. Writes bench/results/png.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import RESULTS, loadavg, revision, shown
from bench.speed import make_inputs, source_photo
from core.compose import hide_transparent_colours
from core.pipeline import process
from core.segmentation import get_segmenter
from core.weights import DEFAULT_MODEL

LEVELS = (1, 3, 6)


def encode(pixels, level: int) -> tuple[float, int]:
    start = time.perf_counter()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=level)
    return time.perf_counter() - start, len(buffer.getvalue())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.png", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12", help="photo sizes in megapixels, comma-separated (default 12)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "png.md")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    segmenter = get_segmenter(DEFAULT_MODEL, "cpu")
    lines = [
        "# The cut-out's PNG: hidden colours and zlib level", "",
        f"`python -m bench.png --sizes {args.sizes} --repeats {args.repeats}` at {revision()} (load average {loadavg()}); "
        f"median encode time of {args.repeats}, Pillow {Image.__version__}.", "",
        "| size | colours under alpha 0 | zlib level | encode ms | MB |", "| --- | --- | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        inputs = make_inputs(source_photo(), sizes, Path(folder))
        for mp in sizes:
            cutout = process(inputs[mp]["path"], segmenter, kind="cutout").output
            variants = {"kept": cutout, "cleared": hide_transparent_colours(cutout)}
            times: dict[tuple[str, int], list[float]] = {}
            sizes_mb: dict[tuple[str, int], float] = {}
            for _ in range(args.repeats):
                for name, pixels in variants.items():
                    for level in LEVELS:
                        seconds, size = encode(pixels, level)
                        times.setdefault((name, level), []).append(seconds)
                        sizes_mb[name, level] = size / 1e6
            for (name, level), values in times.items():
                lines.append(f"| {mp:g} MP | {name} | {level} | {statistics.median(values) * 1000:.0f} | {sizes_mb[name, level]:.2f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out)}")


if __name__ == "__main__":
    main()
