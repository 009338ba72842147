"""Soak test of the command line: resident memory over a long folder run must not keep growing.

    python -m bench.soak [--images 300] [--photos ../shared/data/photos] [--command cutout] [--out bench/results]

Builds a temporary folder (outside the project) with N symlinks to the photos, named
`000_<name>`, `001_<name>`, ... so that the command line, which processes a folder in sorted order,
cycles through the whole photo set again and again and every photo size recurs. Starts
`python -m core COMMAND TMPDIR -o TMPOUT` as a subprocess and samples its resident memory (VmRSS in
/proc/<pid>/status) every --interval seconds together with the number of outputs written so far,
until it exits; checks that it exited with 0 and wrote all N outputs.

Warm-up is the first pass over the photo set (the first len(photos) images: every size seen once, so
allocator pools and caches have grown to their working size). With k = 10 % of N images,

    growth = (median RSS while processing the last k images
              - median RSS while processing the first k images after warm-up) / the latter

and the target is growth < 10 %. A sample taken while `d` outputs exist belongs to image d + 1.
The true peak RSS of the child (ru_maxrss from wait4) is reported as well.

Writes to --out: soak.csv (seconds, images_done, rss_mb, peak_rss_mb), soak.png (RSS against images
done, drawn with Pillow: warm-up shaded, the two median windows and the target band marked) and
soak.md (summary table). Exit status 0 if the target is met, 1 if not (or if the run failed).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bench.common import PHOTOS as DEFAULT_PHOTOS
from bench.common import RESULTS, ROOT  # (neither bench.common nor core.imageio imports torch)
from core.imageio import IMAGE_SUFFIXES
TARGET_GROWTH = 0.10
WINDOW_FRACTION = 0.10


@dataclass(frozen=True)
class Sample:
    seconds: float
    images_done: int
    rss_mb: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Summary:
    images: int
    photos: int
    window: int
    wall_s: float
    warmup_hwm_mb: float  # the child's RSS high-water mark (VmHWM) when the warm-up pass had finished
    first_median_mb: float  # median RSS over the first `window` images after warm-up
    last_median_mb: float  # median RSS over the last `window` images
    max_after_mb: float  # highest sampled RSS after warm-up
    peak_mb: float  # the child's true peak RSS (ru_maxrss)
    growth: float

    @property
    def met(self) -> bool:
        return self.growth < TARGET_GROWTH


# ------------------------------------------------------------------------------------------ the run


def list_photos(folder: Path) -> list[Path]:
    photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not photos:
        raise SystemExit(f"No photos ({', '.join(IMAGE_SUFFIXES)}) in {folder} (see --photos).")
    return photos


def build_inputs(photos: list[Path], count: int, folder: Path) -> list[Path]:
    """`count` symlinks in `folder`, cycling through `photos`: 000_<a>, 001_<b>, ... (sorted = processing order)."""
    digits = max(3, len(str(count - 1)))
    links = []
    for index in range(count):
        photo = photos[index % len(photos)]
        link = folder / f"{index:0{digits}d}_{photo.name}"
        link.symlink_to(photo.resolve())
        links.append(link)
    return links


def read_rss_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) in MB from /proc/<pid>/status; None once the process is gone (or a zombie)."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024  # kB -> MB (MiB)
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmRSS" not in values:  # zombie: memory already released
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def count_outputs(folder: Path) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".png"))
    except FileNotFoundError:
        return 0


def soak(command: list[str], out_dir: Path, interval: float, log_path: Path, env: dict[str, str]) -> tuple[int, float, float, list[Sample]]:
    """Run `command`, sampling it until it exits: (exit status, wall seconds, peak RSS MB from wait4, samples)."""
    samples: list[Sample] = []
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        # Popen, not run: we reap the child ourselves with wait4 to get its ru_maxrss.
        child = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        status = None
        try:
            while True:
                reading = read_rss_mb(child.pid)
                if reading is not None:
                    samples.append(Sample(time.perf_counter() - start, count_outputs(out_dir), *reading))
                pid, wait_status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid == child.pid:
                    status = os.waitstatus_to_exitcode(wait_status)
                    break
                time.sleep(interval)
        except BaseException:
            child.kill()
            raise
        wall = time.perf_counter() - start
        child.returncode = status  # reaped above; keep Popen from waiting again
    return status, wall, usage.ru_maxrss / 1024, samples


def summarise(samples: list[Sample], images: int, photos: int, wall: float, peak_mb: float) -> Summary:
    warmup = min(photos, images)
    window = max(1, round(WINDOW_FRACTION * images))
    if images - warmup < 2 * window:
        raise SystemExit(f"--images {images} leaves too few images after the {warmup}-image warm-up for two {window}-image windows.")

    def rss_while(first: int, last: int) -> list[float]:  # samples taken while processing images first..last (1-based)
        values = [s.rss_mb for s in samples if first - 1 <= s.images_done <= last - 1]
        if not values:
            raise SystemExit(f"No memory sample while images {first}–{last} were processed; lower --interval.")
        return values

    after = [s for s in samples if s.images_done >= warmup]
    first_median = statistics.median(rss_while(warmup + 1, warmup + window))
    last_median = statistics.median(rss_while(images - window + 1, images))
    return Summary(
        images=images,
        photos=photos,
        window=window,
        wall_s=wall,
        warmup_hwm_mb=after[0].peak_rss_mb,
        first_median_mb=first_median,
        last_median_mb=last_median,
        max_after_mb=max(s.rss_mb for s in after),
        peak_mb=peak_mb,
        growth=(last_median - first_median) / first_median,
    )


# ------------------------------------------------------------------------------------------ outputs


def write_csv(samples: list[Sample], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seconds", "images_done", "rss_mb", "peak_rss_mb"])
        for s in samples:
            writer.writerow([f"{s.seconds:.2f}", s.images_done, f"{s.rss_mb:.1f}", f"{s.peak_rss_mb:.1f}"])


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(1, ticks)
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _spread(samples: list[Sample]) -> list[tuple[float, float]]:
    """(x, rss): samples taken while image d + 1 was processed spread evenly over [d, d + 1)."""
    points, run = [], []
    for s in samples + [None]:
        if run and (s is None or s.images_done != run[0].images_done):
            points += [(r.images_done + k / len(run), r.rss_mb) for k, r in enumerate(run)]
            run = []
        if s is not None:
            run.append(s)
    return points


def pass_medians(samples: list[Sample], images: int, photos: int) -> list[tuple[int, int, float]]:
    """(first image done, last, median RSS) for each pass over the photo set (the last may be partial)."""
    result = []
    for first in range(0, images, photos):
        last = min(first + photos, images)
        values = [s.rss_mb for s in samples if first <= s.images_done < last]
        if values:
            result.append((first, last, statistics.median(values)))
    return result


def draw_chart(samples: list[Sample], summary: Summary, path: Path) -> None:
    width, height = 1200, 640
    left, right, top, bottom = 90, 30, 70, 80
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    font, small, title_font = _font(16), _font(13), _font(20)
    images, warmup, window = summary.images, min(summary.photos, summary.images), summary.window

    top_mb = max(max(s.rss_mb for s in samples), summary.first_median_mb * (1 + TARGET_GROWTH)) * 1.08
    y_step = _nice_step(top_mb, 8)
    top_mb = y_step * (int(top_mb / y_step) + 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + plot_w * x / images

    def py(mb: float) -> float:
        return top + plot_h * (1 - mb / top_mb)

    # warm-up shading and boundary
    draw.rectangle([px(0), top, px(warmup), top + plot_h], fill=(0, 0, 0, 18))
    for y in range(top, top + plot_h, 12):
        draw.line([px(warmup), y, px(warmup), min(y + 6, top + plot_h)], fill=(90, 90, 90), width=2)

    # target band: from the post-warm-up baseline to +10 %
    base = summary.first_median_mb
    band = (40, 170, 60, 50)
    draw.rectangle([px(warmup), py(base * (1 + TARGET_GROWTH)), px(images), py(base)], fill=band)

    # grid and axes
    mb = 0.0
    while mb <= top_mb + 1e-9:
        draw.line([left, py(mb), left + plot_w, py(mb)], fill=(225, 225, 225))
        draw.text((left - 8, py(mb)), f"{mb:g}", fill="black", font=small, anchor="rm")
        mb += y_step
    x_step = _nice_step(images, 10)
    x = 0.0
    while x <= images + 1e-9:
        draw.line([px(x), top + plot_h, px(x), top + plot_h + 5], fill="black")
        draw.text((px(x), top + plot_h + 8), f"{x:g}", fill="black", font=small, anchor="ma")
        x += x_step
    draw.line([left, top, left, top + plot_h, left + plot_w, top + plot_h], fill="black", width=2)
    draw.text((left + plot_w / 2, height - 22), "images done", fill="black", font=font, anchor="ms")
    label = Image.new("RGBA", (260, 24), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((130, 12), "resident memory (MB)", fill="black", font=font, anchor="mm")
    rotated = label.rotate(90, expand=True)
    image.paste(rotated, (8, top + plot_h // 2 - rotated.height // 2), rotated)

    # the curve (samples taken after the last output was written, i.e. during exit, are left out)
    curve, trend, median_colour = (30, 90, 200), (230, 120, 0), (200, 30, 30)
    points = [(px(x), py(mb)) for x, mb in _spread([s for s in samples if s.images_done < images])]
    if len(points) > 1:
        draw.line(points, fill=curve, width=1)
    # median RSS per pass over the photo set, as a step line
    for first, last, median in pass_medians(samples, images, warmup):
        draw.line([px(first), py(median), px(last), py(median)], fill=trend, width=3)
    # the two median windows that define growth
    for first, median in ((warmup, summary.first_median_mb), (images - window, summary.last_median_mb)):
        draw.line([px(first), py(median), px(first + window), py(median)], fill=median_colour, width=5)

    # the target's upper limit, dashed, on top of the (dense) curve
    limit = py(base * (1 + TARGET_GROWTH))
    x = px(warmup)
    while x < px(images):
        draw.line([x, limit, min(x + 10, px(images)), limit], fill=(20, 130, 40), width=3)
        x += 16

    # legend, in the empty lower part of the plot
    entries = [
        ("line", curve, f"RSS, sampled every {samples[1].seconds - samples[0].seconds:.1f} s" if len(samples) > 1 else "RSS"),
        ("line", trend, f"median RSS per pass over the {warmup} photos"),
        ("line", median_colour, f"median first / last {window} images after warm-up: {summary.first_median_mb:.0f} / {summary.last_median_mb:.0f} MB"),
        ("box", band, f"target band: baseline {base:.0f} MB to +{TARGET_GROWTH:.0%} (dashed, {base * (1 + TARGET_GROWTH):.0f} MB)"),
        ("box", (0, 0, 0, 25), f"warm-up: first pass over the {warmup} photos"),
    ]
    line_h = 22
    legend_w = 20 + 40 + max(draw.textlength(text, font=small) for _, _, text in entries) + 16
    x0, y1 = left + plot_w - legend_w - 12, top + plot_h - 12
    y0 = y1 - line_h * len(entries) - 12
    draw.rectangle([x0, y0, x0 + legend_w, y1], fill=(255, 255, 255, 235), outline=(160, 160, 160))
    for index, (kind, colour, text) in enumerate(entries):
        y = y0 + 6 + line_h * index + line_h / 2
        if kind == "line":
            draw.line([x0 + 12, y, x0 + 48, y], fill=colour, width=4)
        else:
            draw.rectangle([x0 + 12, y - 7, x0 + 48, y + 7], fill=colour, outline=(160, 160, 160))
        draw.text((x0 + 58, y), text, fill="black", font=small, anchor="lm")

    verdict = "MET" if summary.met else "NOT MET"
    title = (f"Soak: {images} images ({summary.photos} photos repeated): RSS growth after warm-up "
             f"{summary.growth:+.1%} (target < {TARGET_GROWTH:.0%}: {verdict})")
    draw.text((width / 2, 22), title, fill="black", font=title_font, anchor="mm")
    draw.text((width / 2, 48), f"peak RSS {summary.peak_mb:.0f} MB · {summary.wall_s:.0f} s wall · {images / summary.wall_s:.2f} images/s",
              fill=(80, 80, 80), font=small, anchor="mm")
    image.save(path)


def write_markdown(summary: Summary, passes: list[tuple[int, int, float]], command_line: str, env_note: str, interval: float, path: Path) -> None:
    s = summary
    verdict = f"**{'MET' if s.met else 'NOT MET'}** (growth {s.growth:+.1%}, target < {TARGET_GROWTH:.0%})"
    rows = [
        ("images", f"{s.images} ({s.photos} photos, each seen {s.images / s.photos:.1f}× on average)"),
        ("photos (warm-up = first pass)", f"{s.photos}"),
        ("wall time", f"{s.wall_s:.0f} s"),
        ("images/s", f"{s.images / s.wall_s:.2f}"),
        ("RSS at end of warm-up (high-water mark, VmHWM)", f"{s.warmup_hwm_mb:.0f} MB"),
        (f"median RSS, first {s.window} images after warm-up", f"{s.first_median_mb:.0f} MB"),
        (f"median RSS, last {s.window} images", f"{s.last_median_mb:.0f} MB"),
        ("max RSS after warm-up (sampled)", f"{s.max_after_mb:.0f} MB ({(s.max_after_mb - s.warmup_hwm_mb) / s.warmup_hwm_mb:+.1%} vs end of warm-up)"),
        ("peak RSS of the whole run (ru_maxrss)", f"{s.peak_mb:.0f} MB ({(s.peak_mb - s.warmup_hwm_mb) / s.warmup_hwm_mb:+.1%} vs end of warm-up)"),
        ("growth", f"{s.growth:+.1%}"),
        ("verdict", verdict),
    ]
    lines = [
        "# Soak: resident memory of the command line over a long folder run",
        "",
        "Written by `python -m bench.soak`. The photo set is repeated (symlinks `000_<name>`, `001_<name>`, …) so the",
        "folder run cycles through every photo size again and again; VmRSS of the process is sampled every",
        f"{interval:g} s with the number of outputs written. Warm-up = the first pass over the photo set. Growth = (median",
        f"RSS over the last {s.window} images − median over the first {s.window} images after warm-up) / the latter.",
        "Curve: `soak.png`, samples: `soak.csv`.",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        "Median RSS per pass over the photo set (pass 1 is the warm-up; a last partial pass is marked):",
        "",
        "| pass | images | median RSS |",
        "| --- | --- | --- |",
        *[f"| {n}{' (warm-up)' if n == 1 else ''}{' (partial)' if last - first < s.photos else ''} | {first + 1}–{last} | {median:.0f} MB |"
          for n, (first, last, median) in enumerate(passes, start=1)],
        "",
        f"Command line: `{command_line}`{env_note}",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "",
    ]
    path.write_text("\n".join(lines))


# ------------------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300, help="images to process (default 300)")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help=f"folder of photos to repeat (default {DEFAULT_PHOTOS})")
    parser.add_argument("--command", default="cutout", choices=("mask", "cutout", "replace"), help="command line to soak (default cutout)")
    parser.add_argument("--background", default="#1e3a8a", help="--background for the replace command (default #1e3a8a)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.add_argument("--interval", type=float, default=0.2, help="sampling interval in seconds (default 0.2)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment variable for the child, e.g. MALLOC_ARENA_MAX=2 (repeatable)")
    parser.add_argument("cli_args", nargs="*", help="extra arguments for the command line, after --, e.g. -- --model u2net")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    photos = list_photos(args.photos)
    if args.images < 1:
        raise SystemExit("--images must be at least 1")
    env = dict(os.environ)
    extra_env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects KEY=VALUE, got {item!r}")
        extra_env[key] = value
    env.update(extra_env)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="portrait-soak-") as tmp:
        in_dir, out_dir = Path(tmp) / "in", Path(tmp) / "out"
        in_dir.mkdir()
        inputs = build_inputs(photos, args.images, in_dir)
        command = [sys.executable, "-m", "core", args.command, str(in_dir), "-o", str(out_dir)]
        if args.command == "replace":
            command += ["--background", args.background]
        command += args.cli_args
        print(f"soak: {args.images} images from {len(photos)} photos; running {shlex.join(command)}", file=sys.stderr)
        status, wall, peak_mb, samples = soak(command, out_dir, args.interval, Path(tmp) / "cli.log", env)
        missing = [p.name for p in inputs if not (out_dir / f"{p.stem}.png").is_file()]
        log_tail = (Path(tmp) / "cli.log").read_text(errors="replace")[-3000:]
    if status != 0 or missing:
        print(log_tail, file=sys.stderr)
        print(f"soak: FAILED: exit status {status}, {len(missing)} of {args.images} outputs missing {missing[:5]}", file=sys.stderr)
        return 1

    summary = summarise(samples, args.images, len(photos), wall, peak_mb)
    write_csv(samples, args.out / "soak.csv")
    draw_chart(samples, summary, args.out / "soak.png")
    shown = ["python", "-m", "core", args.command, "<TMPDIR>", "-o", "<TMPOUT>"]
    shown += ["--background", shlex.quote(args.background)] if args.command == "replace" else []
    env_note = f" with {' '.join(f'{k}={v}' for k, v in extra_env.items())}" if extra_env else ""
    write_markdown(summary, pass_medians(samples, args.images, len(photos)), " ".join(shown + [shlex.quote(a) for a in args.cli_args]), env_note, args.interval, args.out / "soak.md")

    s = summary
    print(f"{s.images} images in {s.wall_s:.0f} s ({s.images / s.wall_s:.2f}/s); {len(samples)} samples")
    print(f"RSS high-water mark at end of warm-up {s.warmup_hwm_mb:.0f} MB; median first {s.window} after warm-up "
          f"{s.first_median_mb:.0f} MB, last {s.window} {s.last_median_mb:.0f} MB; max after warm-up {s.max_after_mb:.0f} MB; peak {s.peak_mb:.0f} MB")
    print(f"growth {s.growth:+.1%} (target < {TARGET_GROWTH:.0%}): {'MET' if s.met else 'NOT MET'}")
    print(f"wrote {args.out / 'soak.csv'}, {args.out / 'soak.png'}, {args.out / 'soak.md'}")
    return 0 if s.met else 1


if __name__ == "__main__":
    sys.exit(main())
