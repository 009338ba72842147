"""Whole-process runs side by side with rembg: what a user waits for from the command line.

    python -m bench.whole                       # 0.5, 2 and 12 MP, 3 alternated rounds
    python -m bench.whole --sizes 2 --rounds 5

Each round runs, one after the other, `python -m core cutout PHOTO -o OUT` (the defaults: the `auto` model,
its refinement, PNG; and a folder of the first --folder dev portraits, which rembg's script goes through with
one session as `rembg p` does; they are linked into a temporary folder, never copied) and rembg 2.0.86's plain cut-out with the same u2netp weights in a fresh interpreter
(`new_session("u2netp")`, `remove`, save as PNG: what `rembg i` does, without the CLI's extra imports, which need
`rembg[cli]`; the bundled u2netp.onnx is put in a temporary U2NET_HOME, so nothing is downloaded). Also
`python -m core --help` against `python -c "import rembg"` (the least `rembg --help` can cost). Reports medians,
the ratio of medians and each round's ratio (the spread), with the load average. Writes
bench/results/whole-process.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DEFAULT_DATA, RESULTS, ROOT, list_stems, loadavg, revision, shown
from bench.speed import make_inputs, source_photo

REMBG_ONE = (
    "import sys\nfrom PIL import Image\nfrom rembg import new_session, remove\n"
    "remove(Image.open(sys.argv[1]), session=new_session('u2netp')).save(sys.argv[2])\n"
)
#: Our options for rembg's own recipe: u2netp, one pass on the photo as it is, the raw mask, no edge colour work.
LIKE_FOR_LIKE = ["--model", "u2netp", "--no-pad", "--no-flip", "--no-refine", "--no-decontaminate"]
#: rembg over a folder as `rembg p` does it: one session, every image, PNG each.
REMBG_FOLDER = (
    "import sys\nfrom pathlib import Path\nfrom PIL import Image\nfrom rembg import new_session, remove\n"
    "session = new_session('u2netp')\nout = Path(sys.argv[2])\nout.mkdir(exist_ok=True)\n"
    "for path in sorted(Path(sys.argv[1]).iterdir()):\n"
    "    remove(Image.open(path), session=session).save(out / (path.stem + '.png'))\n"
)


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.whole", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.5,2,12", help="photo sizes in megapixels (default 0.5,2,12)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", type=int, default=30, metavar="N",
                        help="also a folder of the first N dev portraits (linked, not copied; 0: none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "whole-process.md")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    start_load = loadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        home = folder / "u2net"
        home.mkdir()
        shutil.copy(ROOT / "core" / "bundled_weights" / "u2netp.onnx", home / "u2netp.onnx")
        env = {**os.environ, "U2NET_HOME": str(home)}
        (folder / "rembg_one.py").write_text(REMBG_ONE)
        (folder / "rembg_folder.py").write_text(REMBG_FOLDER)
        inputs = make_inputs(source_photo(), sizes, folder)
        portraits = folder / "portraits"
        portraits.mkdir()
        for stem in list_stems(DEFAULT_DATA, args.folder) if args.folder else []:
            (portraits / f"{stem}.jpg").symlink_to(DEFAULT_DATA / "images" / f"{stem}.jpg")
        jobs = {
            "`--help`": ([sys.executable, "-m", "core", "--help"], [sys.executable, "-c", "import rembg"]),
            **{f"{mp:g} MP ({inputs[mp]['width']}×{inputs[mp]['height']})": (
                [sys.executable, "-m", "core", "cutout", inputs[mp]["path"], "-o", str(folder / "ours.png")],
                [sys.executable, str(folder / "rembg_one.py"), inputs[mp]["path"], str(folder / "rembg.png")],
            ) for mp in sizes},
        }
        if args.folder:
            theirs = [sys.executable, str(folder / "rembg_folder.py"), str(portraits), str(folder / "theirs")]
            jobs[f"a folder of {args.folder} portraits"] = (
                [sys.executable, "-m", "core", "cutout", str(portraits), "-o", str(folder / "ours")], theirs)
            jobs[f"a folder of {args.folder} portraits, like for like"] = (
                [sys.executable, "-m", "core", "cutout", str(portraits), "-o", str(folder / "ours_same"), *LIKE_FOR_LIKE],
                theirs)
        for name, (ours, theirs) in jobs.items():
            timed(ours), timed(theirs, env)  # warm the file cache
            pairs = [(timed(ours), timed(theirs, env)) for _ in range(args.rounds)]
            ours_s, theirs_s = [p[0] for p in pairs], [p[1] for p in pairs]
            ratios = sorted(o / t for o, t in pairs)
            rows.append(f"| {name} | {statistics.median(ours_s):.2f} | {statistics.median(theirs_s):.2f} | "
                        f"**{statistics.median(ours_s) / statistics.median(theirs_s):.2f}×** | "
                        f"{ratios[0]:.2f}–{ratios[-1]:.2f} |")
    lines = [
        "# Whole process, side by side with rembg", "",
        f"`python -m bench.whole --sizes {args.sizes} --rounds {args.rounds}` at {revision()}; load average "
        f"{start_load} at the start, {loadavg()} at the end; {os.cpu_count()} CPUs. Seconds, median of {args.rounds} "
        f"alternated rounds; ratio = ours / rembg (below 1: faster).", "",
        "| job | ours s | rembg s | ratio of medians | ratio per round |", "| --- | ---: | ---: | ---: | ---: |",
        *rows, "",
        "Ours: `python -m core cutout PHOTO -o OUT.png` with the defaults (`auto`: MODNet and U²-Net† in "
        "onnxruntime, refinement, edge decontamination); like for like: the same command with "
        f"`{' '.join(LIKE_FOR_LIKE)}`. rembg: u2netp, plain `remove()`, PNG. `--help` row: "
        "`python -m core --help` against `python -c \"import rembg\"`.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out)}")


if __name__ == "__main__":
    main()
