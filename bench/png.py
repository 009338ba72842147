"""The transparent cut-out's PNG: which writer, what keeping the colours under fully transparent pixels costs,
and which zlib level.

    python -m bench.png                  # 0.5 and 12 MP (the bench photo, resized)
    python -m bench.png --sizes 2,12

For each size: the default model's cut-out of the photo, encoded as PNG by Pillow (a filter chosen per row) and
by `core.png` (the "Up" filter throughout) at zlib levels 1, 3 and 6, with the colours under alpha 0 kept and
cleared (`core.compose.hide_transparent_colours`); median of --repeats encodes, each setting timed in turn.
Writes bench/results/png.md.
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
from core.png import encode_png
from core.segmentation import get_segmenter
from core.weights import DEFAULT_MODEL

LEVELS = (1, 3, 6)


def pillow_png(pixels, level: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


WRITERS = {"Pillow": pillow_png, "core.png": encode_png}


def encode(writer: str, pixels, level: int) -> tuple[float, int]:
    start = time.perf_counter()
    data = WRITERS[writer](pixels, level)
    return time.perf_counter() - start, len(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.png", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.5,12", help="photo sizes in megapixels, comma-separated (default 0.5,12)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "png.md")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    segmenter = get_segmenter(DEFAULT_MODEL, "cpu")
    lines = [
        "# The cut-out's PNG: hidden colours and zlib level", "",
        f"`python -m bench.png --sizes {args.sizes} --repeats {args.repeats}` at {revision()} (load average {loadavg()}); "
        f"median encode time of {args.repeats}, Pillow {Image.__version__}.", "",
        "| size | writer | colours under alpha 0 | zlib level | encode ms | MB |", "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as folder:
        inputs = make_inputs(source_photo(), sizes, Path(folder))
        for mp in sizes:
            cutout = process(inputs[mp]["path"], segmenter, kind="cutout").output
            variants = {"kept": cutout, "cleared": hide_transparent_colours(cutout)}
            times: dict[tuple[str, str, int], list[float]] = {}
            sizes_mb: dict[tuple[str, str, int], float] = {}
            for _ in range(args.repeats):
                for writer in WRITERS:
                    for name, pixels in variants.items():
                        for level in LEVELS:
                            seconds, size = encode(writer, pixels, level)
                            times.setdefault((writer, name, level), []).append(seconds)
                            sizes_mb[writer, name, level] = size / 1e6
            for (writer, name, level), values in times.items():
                lines.append(f"| {mp:g} MP | {writer} | {name} | {level} | {statistics.median(values) * 1000:.0f} | "
                             f"{sizes_mb[writer, name, level]:.2f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out)}")


if __name__ == "__main__":
    main()
