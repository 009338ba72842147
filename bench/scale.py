"""Photos per minute of `python -m core batch`: the local engine against Ray at 1 and 2 workers, on this machine.

    python -m bench.scale                  # a folder of 24 dev portraits and one of 1, 2 rounds
    python -m bench.scale --photos 40 --rounds 3

Each round runs every engine, one after the other, as a whole process (`python -m core batch SRC DST`, the
defaults: the `auto` model, its refinement, PNG cut-outs) on a folder of N dev portraits (linked into a
temporary folder, never copied) and on a folder of 1. The 1-photo run is the fixed cost (start-up: imports,
networks, for Ray also starting its cluster and workers); (T(N) - T(1)) / (N - 1) is the cost per added photo,
which is what each added machine divides. Reports medians with the load average; writes bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DEFAULT_DATA, RESULTS, ROOT, list_stems, loadavg, revision, shown

ENGINES = {
    "local (this process, 2 threads)": ["--engine", "local"],
    "Ray, 1 worker × 2 threads": ["--engine", "ray", "--workers", "1", "--threads-per-worker", "2"],
    "Ray, 2 workers × 1 thread": ["--engine", "ray", "--workers", "2", "--threads-per-worker", "1"],
}


def timed_batch(src: Path, dst: Path, options: list[str]) -> float:
    """Seconds for one whole `python -m core batch SRC DST` into a fresh DST."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "core", "batch", str(src), str(dst), *options], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"batch {' '.join(options)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24, help="photos in the large folder (default 24)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.md")
    args = parser.parse_args(argv)
    start_load = loadavg()
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        folders = {1: temp / "one", args.photos: temp / "many"}
        stems = list_stems(DEFAULT_DATA, args.photos)
        for count, folder in folders.items():
            folder.mkdir()
            for stem in stems[:count]:
                (folder / f"{stem}.jpg").symlink_to(DEFAULT_DATA / "images" / f"{stem}.jpg")
        times: dict[tuple[str, int], list[float]] = {}
        run = 0
        for _ in range(args.rounds):
            for name, options in ENGINES.items():
                for count, folder in folders.items():
                    run += 1
                    times.setdefault((name, count), []).append(timed_batch(folder, temp / f"out{run}", options))
        for name in ENGINES:
            one, many = (statistics.median(times[(name, count)]) for count in folders)
            per_photo = (many - one) / (args.photos - 1)
            rows.append(f"| {name} | {one:.1f} | {many:.1f} | {60 * args.photos / many:.0f} | {per_photo:.2f} | "
                        f"{60 / per_photo:.0f} |")
    lines = [
        "# Scale-out: local engine against Ray on one machine", "",
        f"`python -m bench.scale --photos {args.photos} --rounds {args.rounds}` at {revision()}; load average "
        f"{start_load} at the start, {loadavg()} at the end; {os.cpu_count()} CPUs. Whole `python -m core batch` "
        f"processes, medians of {args.rounds} rounds, the defaults (auto model, refinement, PNG cut-outs), dev "
        f"portraits (about 600×800).", "",
        f"| engine | 1 photo, s (fixed cost) | {args.photos} photos, s | photos/min, whole run | s per added photo | "
        f"photos/min, steady |", "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows, "",
        "The fixed cost is paid once per run (Ray: starting a private cluster and its workers, each loading the "
        "networks); the cost per added photo is what more machines divide, since every photo is independent.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out)}")


if __name__ == "__main__":
    main()
