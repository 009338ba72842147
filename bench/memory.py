"""Memory: hostile backgrounds through the command line, and three dashboard sessions with 95 MP photos.

`python -m bench.memory` writes bench/results/memory.md (and .json beside it):

- **strips**: `python -m core replace PHOTO --background BG` in a fresh process per case, peak resident memory
  (the child's own `ru_maxrss`): a normal background of the photo's size, 50:1 strips (the widest accepted)
  of 0.5 and 8 MP, and the 20000×1 / 60000×1 strips that issue 11 found taking 5.3 and 12.8 GB (now refused
  from the header). The target: a strip under 1.2× the normal background's peak.
- **sessions**: a real `streamlit run` server and three Chromium sessions that each upload a 95 MP JPEG on the
  Replace page at the same time; the server's resident memory is sampled every 0.2 s until all three show
  their result (peak), then after 30 s without input (idle). The target: the byte-budgeted caches
  (PORTRAIT_STUDIO_CACHE_MB, default 1500) bound what stays.

Images are generated into a temporary folder from a photo in ../shared/data/photos (nothing is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from bench.common import PHOTOS, RESULTS, ROOT, revision
PHOTO_SIZE = (1600, 1200)  # the output size every background covers (2 MP)
STRIPS = {  # name: (width, height, colour)
    "normal background (1600x1200)": (1600, 1200, None),
    "50:1 strip, 5000x100 (0.5 MP)": (5000, 100, (0, 90, 200)),
    "50:1 strip, 20000x400 (8 MP)": (20000, 400, (0, 90, 200)),
    "20000x1 strip (issue: 5.3 GB)": (20000, 1, (0, 90, 200)),
    "60000x1 strip (issue: 12.8 GB)": (60000, 1, (0, 90, 200)),
}
SESSIONS = 3
BIG_SIZE = (11900, 7980)  # 95.0 MP
IDLE_SECONDS = 30


def _source_photo() -> Path:
    photos = sorted(PHOTOS.glob("*.jpg"), key=lambda p: p.stat().st_size)
    if not photos:
        raise SystemExit(f"No photos in {PHOTOS}.")
    return photos[-1]


def _peak_of_child(command: list[str]) -> tuple[int, float, str]:
    """(exit status, the child's own peak RSS in MB, last line of its stderr)."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stderr.splitlines() if line.strip()]
    return process.returncode, usage.ru_maxrss / 1024, (lines[-1] if lines else "")


def strips(folder: Path, repeats: int) -> list[dict]:
    """Peak RSS of `python -m core replace` per background (median of `repeats` runs, cases interleaved)."""
    photo = folder / "photo.jpg"
    Image.open(_source_photo()).convert("RGB").resize(PHOTO_SIZE).save(photo, quality=92)
    backgrounds = {}
    for name, (width, height, colour) in STRIPS.items():
        path = folder / f"bg-{width}x{height}.png"
        image = Image.open(_source_photo()).convert("RGB").resize((width, height)) if colour is None else Image.new("RGB", (width, height), colour)
        image.save(path)
        backgrounds[name] = path
    peaks: dict[str, list[float]] = {name: [] for name in STRIPS}
    outcome: dict[str, str] = {}
    for _ in range(repeats):
        for name, path in backgrounds.items():
            command = [sys.executable, "-m", "core", "replace", str(photo), "-o", str(folder / "out.png"),
                       "--background", str(path), "--model", "u2netp"]
            status, peak, last = _peak_of_child(command)
            peaks[name].append(peak)
            outcome[name] = "written" if status == 0 else f"refused (exit {status}): {last.removeprefix('error: ')[:110]}"
    normal = sorted(peaks[next(iter(STRIPS))])[repeats // 2]
    rows = []
    for name in STRIPS:
        peak = sorted(peaks[name])[repeats // 2]
        rows.append({"background": name, "peak_mb": round(peak), "ratio": round(peak / normal, 2), "outcome": outcome[name]})
    return rows


def sessions(folder: Path) -> dict:
    """Three browser sessions upload a 95 MP photo at once; the server's RSS before, at peak, and when idle."""
    from tests.browser_support import chromium_browser, require_chromium, streamlit_server, wait_for_idle

    try:
        require_chromium()
    except BaseException as exc:  # pytest.skip outside pytest
        raise SystemExit(f"sessions: {exc}") from None
    Image.MAX_IMAGE_PIXELS = None
    paths = []
    for index in range(SESSIONS):  # three different photos: no cache entry is shared
        path = folder / f"big{index}.jpg"
        image = Image.open(_source_photo()).convert("RGB").resize(BIG_SIZE, Image.Resampling.BILINEAR)
        if index:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT if index == 1 else Image.Transpose.FLIP_TOP_BOTTOM)
        image.save(path, quality=80)
        paths.append(path)
        del image
    samples: list[tuple[float, float]] = []
    with streamlit_server("app.py") as server, chromium_browser() as browser:  # as the README starts it
        stop = threading.Event()

        def sample() -> None:
            start = time.monotonic()
            while not stop.is_set():
                samples.append((time.monotonic() - start, server.rss_mb()))
                time.sleep(0.2)

        pages = []
        for _ in range(SESSIONS):
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{server.url}/Replace_background")
            wait_for_idle(page)
            pages.append(page)
        before = server.rss_mb()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        for page, path in zip(pages, paths):
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
        shown = []
        for page, path in zip(pages, paths):
            page.get_by_text(f"Done: {path.name}").wait_for(timeout=600_000)
            wait_for_idle(page, timeout=600_000)
            shown.append(page.get_by_test_id("stException").count() == 0)
        busy_seconds = time.monotonic() - started
        time.sleep(IDLE_SECONDS)
        idle = server.rss_mb()
        stop.set()
        sampler.join()
    return {
        "sessions": SESSIONS, "photo": f"{BIG_SIZE[0]}x{BIG_SIZE[1]} JPEG ({paths[0].stat().st_size / 2**20:.1f} MB)",
        "before_mb": round(before), "peak_mb": round(max(rss for _, rss in samples)), "idle_mb": round(idle),
        "seconds_to_all_results": round(busy_seconds, 1), "all_shown_without_error": all(shown),
        "cache_budget_mb": float(os.environ.get("PORTRAIT_STUDIO_CACHE_MB") or 1500),
    }


def report(results: dict, out: Path) -> None:
    lines = ["# Memory benchmark", "", f"`python -m bench.memory` — {results['date']}, revision {results['revision']}.", ""]
    if "strips" in results:
        lines += [
            "## Strip backgrounds (command line)", "",
            *([f"(From the run of {results['strips_from']}.)", ""] if "strips_from" in results else []),
            f"`python -m core replace` on a {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} photo, `--model u2netp`, one fresh process per "
            f"run, median peak RSS of {results['repeats']} runs (cases interleaved). Target: a strip under 1.2× the normal background.", "",
            "| background | peak RSS | vs normal | outcome |", "| --- | --- | --- | --- |",
        ]
        lines += [f"| {r['background']} | {r['peak_mb']} MB | {r['ratio']:.2f}× | {r['outcome']} |" for r in results["strips"]]
        lines.append("")
    if "sessions" in results:
        s = results["sessions"]
        lines += [
            "## Three dashboard sessions with 95 MP photos", "",
            *([f"(From the run of {results['sessions_from']}.)", ""] if "sessions_from" in results else []),
            f"A server started as the README starts it (`python app.py`); {s['sessions']} Chromium sessions upload a {s['photo']} each, at once, on the "
            f"Replace page (default model and settings); server RSS sampled every 0.2 s. Cache budget {s['cache_budget_mb']:g} MB.", "",
            "| | server RSS |", "| --- | --- |",
            f"| before the uploads | {s['before_mb']} MB |",
            f"| peak while the three photos are processed | {s['peak_mb']} MB |",
            f"| {IDLE_SECONDS} s after the last result (idle) | {s['idle_mb']} MB |", "",
            f"All three results shown without an error: {s['all_shown_without_error']}; {s['seconds_to_all_results']} s from upload to the last result.",
            "",
        ]
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="strips,sessions", help="strips, sessions or both (default)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per strip case (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.md")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "revision": revision(), "repeats": args.repeats}
    earlier = args.out.with_suffix(".json")
    if earlier.exists():  # a part not run now keeps its earlier figures, marked with their own date
        old = json.loads(earlier.read_text())
        for part in ("strips", "sessions"):
            if part not in parts and part in old:
                results[part], results[f"{part}_from"] = old[part], old.get(f"{part}_from", f"{old['date']}, revision {old['revision']}")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as temp:
        if "strips" in parts:
            results["strips"] = strips(Path(temp), args.repeats)
            print(json.dumps(results["strips"], indent=1), flush=True)
        if "sessions" in parts:
            results["sessions"] = sessions(Path(temp))
            print(json.dumps(results["sessions"], indent=1), flush=True)
    report(results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
