"""Upload to visible result on the Replace page, against the same work in-process: what the dashboard adds.

    python -m bench.dashboard                  # 2 MP photos, 5 uploads
    python -m bench.dashboard --megapixels 0.5 --uploads 7

Starts `streamlit run Home.py` on 127.0.0.1 and drives headless Chromium (Debian's /usr/bin/chromium): one
warm-up upload (the networks load), then --uploads distinct photos (crops of the sample portrait, so no cache
answers), each timed from handing the file to the upload box until the result is drawn (the status says Done,
the script run has ended and every picture on the page has loaded). In this process, the same photos go through
`core.pipeline.process` with the page's default recipe (white background), without the PNG encoding the page
does not do for its result. Reports medians and the difference, with the load average; writes
bench/results/dashboard.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import RESULTS, loadavg, revision, shown
from bench.speed import source_photo
from core.composite import Background
from core.pipeline import StageTimer, process
from core.segmentation import get_segmenter
from tests.browser_support import chromium_browser, go_to, streamlit_server, wait_for_idle

DRAWN = "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].every(i => i.complete && i.naturalWidth > 0)"


def photos(megapixels: float, count: int, folder: Path) -> list[Path]:
    """`count` distinct JPEGs of about `megapixels`, crops of the sample portrait at that size."""
    source = source_photo()
    image = Image.open(source).convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    base = np.asarray(image.resize((round(image.width * scale * 1.05), round(image.height * scale * 1.05))))
    height, width = round(base.shape[0] / 1.05), round(base.shape[1] / 1.05)
    paths = []
    for i in range(count):
        dy, dx = (i * 7) % (base.shape[0] - height + 1), (i * 11) % (base.shape[1] - width + 1)
        path = folder / f"photo-{i}.jpg"
        Image.fromarray(np.ascontiguousarray(base[dy:dy + height, dx:dx + width])).save(path, quality=92)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "dashboard.md")
    args = parser.parse_args(argv)
    start_load = loadavg()
    with tempfile.TemporaryDirectory() as folder:
        inputs = photos(args.megapixels, args.uploads + 1, Path(folder))
        browser_times = []
        with streamlit_server() as server, chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url)
            wait_for_idle(page)
            go_to(page, "Replace background")
            upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
            for index, path in enumerate(inputs):
                start = time.perf_counter()
                upload.set_input_files(str(path))
                page.get_by_text(f"Done: {path.name}").wait_for(timeout=120_000)
                wait_for_idle(page, timeout=120_000)
                page.wait_for_function(DRAWN, timeout=60_000)
                if index:  # the first upload loads the networks
                    browser_times.append(time.perf_counter() - start)
        segmenter = get_segmenter("auto", "cpu")
        background = Background(kind="color", color=(255, 255, 255))
        process(inputs[0].read_bytes(), segmenter, kind="composite", background=background)  # warm up
        direct_times = []
        for path in inputs[1:]:
            result = process(path.read_bytes(), segmenter, kind="composite", background=background, timer=StageTimer())
            direct_times.append(result.timer.total - result.timer.seconds.get("encode", 0.0))
        size = Image.open(inputs[1]).size
    browser_s, direct_s = statistics.median(browser_times), statistics.median(direct_times)
    lines = [
        "# Dashboard: upload to visible result", "",
        f"`python -m bench.dashboard --megapixels {args.megapixels:g} --uploads {args.uploads}` at {revision()}; load "
        f"average {start_load} at the start, {loadavg()} at the end; {os.cpu_count()} CPUs. Photos {size[0]}×{size[1]}, "
        f"the Replace page's defaults (auto model, white background); medians of {args.uploads} distinct uploads "
        f"after one warm-up.", "",
        "| | seconds (median) | each |", "| --- | ---: | --- |",
        f"| upload to visible result, headless Chromium | {browser_s:.2f} | {', '.join(f'{t:.2f}' for t in browser_times)} |",
        f"| the same work in-process (`core.pipeline.process`, no encoding) | {direct_s:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in direct_times)} |",
        f"| **what the dashboard adds** | **{browser_s - direct_s:+.2f}** | target: at most +0.30 |",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out)}")


if __name__ == "__main__":
    main()
