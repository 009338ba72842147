"""Upload to visible result on the Replace page, against the same work in-process: what the dashboard adds.

    python -m bench.dashboard                  # 2 MP photos, 5 uploads
    python -m bench.dashboard --megapixels 0.5 --uploads 7

Starts the dashboard as the README does (`python app.py`) on 127.0.0.1 and drives headless Chromium (Debian's /usr/bin/chromium): one
warm-up upload (the networks load), then --uploads distinct photos (crops of the sample portrait, so no cache
answers), each timed from handing the file to the upload box until the result is drawn (the status says Done,
the script run has ended and every picture on the page has loaded). Right after each upload, the same photo goes
through `core.pipeline.process` in this process with the page's default recipe (white background), without the
PNG encoding the page does not do for its result: the two alternate, so a change in the machine's load reaches
both. Reports medians and the difference, with the load average; writes bench/results/dashboard.md.

How the end is waited for matters on a 2-core machine. Playwright's locator waits (`get_by_text(...).wait_for`,
`wait_for_selector`) poll on every animation frame, which keeps headless Chromium drawing 60 frames a second
for the whole script run, on the cores the networks need; a user's browser does not do that. The timed uploads
therefore wait inside the page with a 25 ms timer (`WAIT_JS`), which draws nothing. Every other upload waits
the old way instead, and is reported on its own row, so the two can be compared.
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

from bench.common import RESULTS, loadavg, revision, shown, write_keeping_notes
from bench.speed import source_photo
from core.composite import Background
from core.pipeline import StageTimer, process
from core.segmentation import get_segmenter
from tests.browser_support import chromium_browser, go_to, streamlit_server, wait_for_idle

DRAWN = "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].every(i => i.complete && i.naturalWidth > 0)"
#: Resolves once the run that shows "Done: NAME" has ended and every picture has loaded; checks on a timer.
WAIT_JS = """([name, interval]) => new Promise(resolve => {
  const ready = () => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app || app.dataset.testConnectionState !== 'CONNECTED' || app.dataset.testScriptState !== 'notRunning') return false;
    if (!document.body.textContent.includes('Done: ' + name)) return false;
    return [...document.querySelectorAll("[data-testid='stImage'] img")].every(i => i.complete && i.naturalWidth > 0);
  };
  const tick = () => ready() ? resolve(true) : setTimeout(tick, interval);
  tick();
})"""
WAITS = ("a timer in the page", "Playwright's locators")


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
    parser.add_argument("--uploads", type=int, default=5, help="timed uploads per way of waiting")
    parser.add_argument("--out", type=Path, default=RESULTS / "dashboard.md")
    args = parser.parse_args(argv)
    start_load = loadavg()
    segmenter = get_segmenter("auto", "cpu")
    background = Background(kind="color", color=(255, 255, 255))
    with tempfile.TemporaryDirectory() as folder:
        inputs = photos(args.megapixels, 2 * args.uploads + 1, Path(folder))
        process(inputs[0].read_bytes(), segmenter, kind="composite", background=background)  # warm up
        browser_times: dict[str, list[float]] = {wait: [] for wait in WAITS}
        direct_times = []
        with streamlit_server("app.py") as server, chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url)
            wait_for_idle(page)
            go_to(page, "Replace background")
            upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
            for index, path in enumerate(inputs):
                wait = WAITS[index % 2]
                start = time.perf_counter()
                upload.set_input_files(str(path))
                if wait == WAITS[0]:
                    page.evaluate(WAIT_JS, [path.name, 25])
                else:
                    page.get_by_text(f"Done: {path.name}").wait_for(timeout=120_000)
                    wait_for_idle(page, timeout=120_000)
                    page.wait_for_function(DRAWN, timeout=60_000)
                if not index:  # the first upload loads the networks
                    continue
                browser_times[wait].append(time.perf_counter() - start)
                result = process(path.read_bytes(), segmenter, kind="composite", background=background, timer=StageTimer())
                direct_times.append(result.timer.total - result.timer.seconds.get("encode", 0.0))
        size = Image.open(inputs[1]).size
    browser_s = {wait: statistics.median(times) for wait, times in browser_times.items()}
    direct_s = statistics.median(direct_times)
    timer_s = browser_s[WAITS[0]]
    lines = [
        "# Dashboard: upload to visible result", "",
        f"`python -m bench.dashboard --megapixels {args.megapixels:g} --uploads {args.uploads}` at {revision()}; load "
        f"average {start_load} at the start, {loadavg()} at the end; {os.cpu_count()} CPUs. Photos {size[0]}×{size[1]}, "
        f"the Replace page's defaults (auto model, white background); medians of {args.uploads} distinct uploads per "
        f"row after one warm-up, each followed by the same photo in-process.", "",
        "| | seconds (median) | each |", "| --- | ---: | --- |",
        *(f"| upload to visible result, headless Chromium, waited for with {wait} | {browser_s[wait]:.2f} | "
          f"{', '.join(f'{t:.2f}' for t in browser_times[wait])} |" for wait in WAITS),
        f"| the same work in-process (`core.pipeline.process`, no encoding) | {direct_s:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in direct_times)} |",
        f"| **what the dashboard adds** (timer in the page) | **{timer_s - direct_s:+.2f}** | target: at most +0.30 |",
        f"| what the dashboard adds, waited for with Playwright's locators | {browser_s[WAITS[1]] - direct_s:+.2f} | |",
    ]
    write_keeping_notes(args.out, lines)
    print("\n".join(lines))
    print(f"wrote {shown(args.out)}")


if __name__ == "__main__":
    main()
