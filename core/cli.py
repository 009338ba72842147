"""Command line: `python -m core {mask,cutout,replace} INPUT -o OUTPUT [options]`, `python -m core batch SRC DST`
(core.batch_command: folder trees and object storage, locally or on Ray) and `python -m core presets`.

INPUT is a file (OUTPUT is then the output file; its suffix picks PNG, JPEG or WebP) or a folder
(OUTPUT is then a folder that receives `<stem>.png` for every image in INPUT, names kept distinct). A file
that cannot be read is reported and skipped; the others are still processed, and the exit status is 1 if
anything failed, 2 for a usage error, 130 when interrupted (Ctrl-C). Inputs are never overwritten and
results are written atomically (`core.output`). `--preset PRESET.json` applies a recipe saved on the
dashboard's Tuning page (options override it), `--edits EDITS.json` touch-up edits saved on its Touch-up page
(one photo only); `--skip-existing` leaves existing outputs alone and `--report REPORT.csv` lists every photo
with its status, time and needs-a-look score (`core.triage`). Framing (`--aspect --size --dpi --margin-pct
--anchor`), ID photos (`--id-photo NAME --print-sheet`; names from `python -m core presets`), the shadow
(`--shadow ...`), the blurred background (`--blur-strength-pct --blur-kernel`) and the encoder (`--quality
--lossless --keep-hidden-colours`) are settings groups like refinement's: each option is generated from its dataclass field.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from core.compose import OutputKind, OutputSettings
from core.composite import Background, BlurSettings
from core.errors import PortraitStudioError
from core.framing import FrameSettings
from core.id_presets import ID_PRESETS
from core.imageio import AVIF_SUPPORTED, IMAGE_SUFFIXES, format_from_suffix, output_formats, read_rgb
from core.limits import DEFAULT_MAX_MEGAPIXELS, DEFAULT_WORKING_MEGAPIXELS, set_pixel_limits
from core.output import (
    FolderLock, check_not_input, check_output_folder, check_readable_file, output_names, same_file, write_atomic,
)
from core.presets import read_preset
from core.finishing import FinishSettings
from core.refine import RefineSettings
from core.network_input import DEVICE_CHOICES, InferenceSettings
from core.settings import Settings
from core.shadow import ShadowSettings
from core.touchup import MAX_EDITS_BYTES, Edit, parse_edits
from core.weights import DEFAULT_MODEL, REGISTRY, get_spec

if TYPE_CHECKING:
    from core.segmentation import Segmenter

# The network and the pipeline (PyTorch) are imported only to process photos: `--help`, usage errors and
# `presets` answer without them.
S = TypeVar("S", bound=Settings)
SETTINGS_GROUPS = {
    InferenceSettings: "network input (how the photo is shown to the network)",
    RefineSettings: "mask refinement (sizes in % of the image's long side)",
    FinishSettings: "edge colour on the new background",
    FrameSettings: "framing and ID photos (any of these options turns reframing on)",
    ShadowSettings: "shadow (any of these options turns the shadow on)",
    BlurSettings: "blurred background (with --background blur)",
    OutputSettings: "output file",
}
#: Groups that only the replace command takes (the others make no background).
REPLACE_ONLY = (BlurSettings,)

KINDS: dict[str, OutputKind] = {"mask": "mask", "cutout": "cutout", "replace": "composite"}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; refinement options are generated from RefineSettings' fields."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Portrait Studio: cut people out of photos (MODNet and U²-Net, on your own machine).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("presets", help="list the ID-photo and profile presets (--id-photo NAME)",
                        description="list the ID-photo and profile presets (--id-photo NAME)")
    helps = {"mask": "write the alpha mask (grey PNG)", "cutout": "write the RGBA cut-out", "replace": "put the subject on a new background"}
    for command, text in helps.items():
        sub = commands.add_parser(command, help=text, description=text)
        sub.add_argument("input", type=Path, help="an image file or a folder of images")
        sub.add_argument(
            "-o", "--output", type=Path, required=True,
            help="output file (its suffix picks the format: " + ", ".join(f".{fmt}" for fmt in output_formats())
                 + ("" if AVIF_SUPPORTED else "; .avif needs a Pillow built with libavif, which this one is not")
                 + "), or output folder when INPUT is a folder",
        )
        if command == "replace":
            sub.add_argument("--background", help=BACKGROUND_HELP)
        sub.add_argument(
            "--in-place", action="store_true",
            help="allow the output folder to be the input folder or inside it (inputs are still never overwritten)",
        )
        sub.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist as they are (a re-run does only what is missing)")
        sub.add_argument("--report", type=Path, metavar="REPORT.csv",
                         help="write one line per photo: input, output, status, error, seconds, needs-a-look score")
        sub.add_argument(
            "--edits", type=Path, metavar="EDITS.json",
            help="touch-up edits saved from the dashboard's Touch-up page (one photo only, not a folder)",
        )
        _add_recipe_arguments(sub, replace=command == "replace")
    _add_batch_parser(commands)
    return parser


BACKGROUND_HELP = (
    "an image PATH (cover-fitted, never stretched), a colour (#RRGGBB or a CSS name such as 'navy'), 'blur' "
    "(blurred original) or 'transparent'; required unless --id-photo gives its own plain light one"
)


def _add_recipe_arguments(sub: argparse.ArgumentParser, replace: bool) -> None:
    """The options every processing command shares: the model, the limits, the preset and the settings groups."""
    sub.add_argument(
        "--model", default=DEFAULT_MODEL, choices=list(REGISTRY),
        help=f"model (default {DEFAULT_MODEL}: " + "; ".join(f"{name}: {spec.good_at}" for name, spec in REGISTRY.items()) + ")",
    )
    sub.add_argument("--weights", type=Path, help="explicit weights file (.onnx or .pth) for --model")
    sub.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="device (default: auto = CUDA, MPS, CPU)")
    sub.add_argument("--no-refine", action="store_true", help="write the raw network mask, skipping all refinement")
    sub.add_argument(
        "--preset", type=Path, metavar="PRESET.json",
        help="a recipe saved on the dashboard's Tuning page ('Save these settings'); options given here override it",
    )
    sub.add_argument("--max-megapixels", type=float, metavar="MP", help=f"refuse larger photos (default {DEFAULT_MAX_MEGAPIXELS:g})")
    sub.add_argument(
        "--working-megapixels", type=float, metavar="MP",
        help=f"refine larger photos at this size and scale the mask back up (default {DEFAULT_WORKING_MEGAPIXELS:g})",
    )
    for cls, title in SETTINGS_GROUPS.items():
        if replace or cls not in REPLACE_ONLY:
            _add_settings_options(sub.add_argument_group(title), cls)


def _add_batch_parser(commands) -> None:
    """`batch SRC DST`: a large run on the local engine or a Ray cluster (core.batch_jobs, core.batch_ray)."""
    text = "many photos (a folder tree or object storage) through one recipe, locally or on a Ray cluster"
    sub = commands.add_parser("batch", help=text, description=text + (
        ". Outputs keep the photos' relative paths; a re-run does only what is missing; every run writes "
        "DST/_runs/<run-id>.jsonl with one row per photo; the exit status is 1 if any photo failed."))
    sub.add_argument("src", metavar="SRC", help="a folder (searched recursively) or s3://bucket/prefix")
    sub.add_argument("dst", metavar="DST", help="a folder or s3://bucket/prefix for the outputs (not SRC, nor above it)")
    sub.add_argument("--kind", choices=list(KINDS),
                     help="what to write (default: replace when --background or --id-photo is given, else cutout)")
    sub.add_argument("--format", choices=[fmt for fmt in output_formats()], default="png",
                     help="the outputs' file format (default png)")
    sub.add_argument("--background", help=BACKGROUND_HELP)
    sub.add_argument("--overwrite", action="store_true", help="process every photo again, replacing outputs already in DST")
    engine = sub.add_argument_group("engine")
    engine.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local: this process (default); ray: Ray Data workers (pip install -r requirements-ray.txt)")
    engine.add_argument("--address", help="an existing Ray cluster (e.g. 10.0.0.5:6379 or auto); default: start a local one")
    engine.add_argument("--workers", type=int, default=1, metavar="N", help="Ray workers, each with its own model (default 1)")
    engine.add_argument("--threads-per-worker", type=int, metavar="N",
                        help="CPU threads of each Ray worker's network and OpenCV (default: the machine's CPUs / --workers)")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                        help="GPUs per Ray worker, fractions allowed (e.g. 0.25 packs four workers on a GPU; default 0)")
    engine.add_argument("--max-retries", type=int, default=2, metavar="N",
                        help="how often Ray retries a photo whose worker died (default 2); then it is a failure row")
    _add_recipe_arguments(sub, replace=True)


def _default_text(cls: type[Settings], name: str, default: bool | float | str) -> str:
    """'default X', plus each model whose measured value differs (e.g. 'default 320; modnet: 512')."""
    own = [
        f"{model}: {getattr(cls.for_model(spec), name):g}" for model, spec in REGISTRY.items()
        if cls.MODEL_FIELD and name in getattr(spec, cls.MODEL_FIELD)
    ]
    shown = f"{default:g}" if isinstance(default, float) else repr(default) if default == "" else f"{default}"
    return "; ".join([f"default {shown}", *own])


def _add_settings_options(group: argparse._ArgumentGroup, cls: type[Settings]) -> None:
    """One option per field of `cls`: --flag/--no-flag for switches, --name X for numbers (unset: the model's value)."""
    for spec in cls.field_specs():
        default = _default_text(cls, spec.name, spec.default)
        if spec.type is bool:
            group.add_argument(
                _option(spec.name), action=argparse.BooleanOptionalAction, default=None,
                help=f"{spec.help} ({default})".replace("%", "%%"),  # argparse formats help with %
            )
        elif spec.type is str:
            examples = f"; e.g. {', '.join(c for c in spec.choices if c)}" if spec.free_text else ""
            group.add_argument(
                _option(spec.name), default=None, metavar=spec.name.split("_")[-1].upper() if spec.free_text else None,
                choices=None if spec.free_text else spec.choices,
                help=f"{spec.help} [{default}{examples}]".replace("%", "%%"),
            )
        else:
            group.add_argument(
                _option(spec.name), type=float, default=None, metavar="X",
                help=f"{spec.help} [{spec.min:g}–{spec.max:g}, {default}]".replace("%", "%%"),
            )


def _given(cls: type[Settings], args: argparse.Namespace) -> dict[str, bool | float | str]:
    """The options of `cls` given on the command line, by field name (a group's switch turned on by any of its
    other options, unless it was turned off: Settings.SWITCH)."""
    given = {spec.name: getattr(args, spec.name) for spec in cls.field_specs() if getattr(args, spec.name, None) is not None}
    if cls.SWITCH and given and cls.SWITCH not in given:
        given[cls.SWITCH] = True
    return given


def _settings_from_args(cls: type[S], args: argparse.Namespace, preset: dict[type[Settings], Settings]) -> S:
    """The settings for --model: the preset's when it holds this group, else the values measured best for the
    model; then the options given on the command line."""
    if cls in preset:
        return dataclasses.replace(preset[cls], **_given(cls, args))
    return cls.for_model(get_spec(args.model), **_given(cls, args))


class ProgressLine:
    """A one-line text progress bar on a stream (stderr), redrawn in place when it is a terminal."""

    def __init__(self, stream: TextIO, label: str, width: int = 28) -> None:
        self.stream, self.label, self.width = stream, label, width
        self.live = stream.isatty()

    def update(self, done: int, total: int | None, suffix: str = "") -> None:
        if total:
            filled = int(self.width * done / total)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        else:
            bar = f"{done}"
        line = f"{self.label} {bar} {suffix}".rstrip()
        if self.live:
            self.stream.write("\r" + line + "\x1b[K")
        elif not total or done == total or suffix:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Wipe a live bar's line so that a message printed next starts at the left; the next update redraws it."""
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _download_progress(stream: TextIO):
    bar = ProgressLine(stream, "downloading weights")
    last = [-1]

    def report(done: int, total: int | None) -> None:
        megabytes = done >> 20
        if megabytes != last[0] or done == total:
            last[0] = megabytes
            bar.update(megabytes, (total >> 20) if total else None, "MB")

    return report


def _jobs(source: Path, target: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs; a folder gives one distinctly named PNG per image (`core.output.output_names`)."""
    if source.is_file():
        return [(source, target)]
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    taken = [p.name for p in files] if same_file(source, target) else []  # writing into the input folder (--in-place)
    return [(p, target / name) for p, name in zip(files, output_names(files, ".png", taken))]


def _read_background(path: str):
    """The background image at `path` (a FIFO or device is refused before it is opened)."""
    check_readable_file(Path(path))
    return read_rgb(path)


def _read_edits(path: Path | None, folder_mode: bool) -> tuple[Edit, ...]:
    """The touch-up edits in `path` (none without it); edits belong to one photo, so a folder INPUT is refused."""
    if path is None:
        return ()
    if folder_mode:
        raise PortraitStudioError(
            "--edits belongs to one photo (the edits were drawn on it), but INPUT is a folder: "
            "give the photo the edits were made on as INPUT."
        )
    if not path.exists():
        raise PortraitStudioError(f"{path} does not exist: give the edits file saved from the Touch-up page.")
    check_readable_file(path)
    if path.stat().st_size > MAX_EDITS_BYTES:
        raise PortraitStudioError(f"{path} is larger than an edits file can be ({MAX_EDITS_BYTES >> 20} MB).")
    try:
        return parse_edits(path.read_bytes())
    except OSError as exc:
        raise PortraitStudioError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except PortraitStudioError as exc:
        raise PortraitStudioError(f"{path}: {exc}") from None


def _check_report(path: Path, source: Path, folder_mode: bool) -> None:
    """Refuse, before any work, a report that would overwrite an input or cannot be written."""
    if path.suffix.lower() != ".csv":
        raise PortraitStudioError(f"{path}: the report is a CSV file; name it with .csv (e.g. report.csv).")
    inputs = [p for p in source.iterdir() if p.is_file()] if folder_mode else [source]
    check_not_input(path, inputs)
    if path.is_dir():
        raise PortraitStudioError(f"{path} is a folder: --report names a file (e.g. {path / 'report.csv'}).")
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    if folder is not None and not os.access(folder, os.W_OK):
        raise PortraitStudioError(f"{folder} cannot be written to: choose a report file in a folder you can write to.")


REPORT_COLUMNS = ("input", "output", "status", "error", "seconds", "needs_a_look")


def _write_report(path: Path, rows: list[dict]) -> None:
    """The report CSV (REPORT_COLUMNS), written atomically like every output."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue().encode("utf-8"))


def _check_output_file(path: Path, kind: OutputKind, background: Background | None) -> None:
    """Refuse, before any work, an output file that cannot be written: unknown suffix, transparency as JPEG,
    a folder that cannot be written into."""
    if path.is_dir():
        raise PortraitStudioError(f"{path} is a folder: with a file as INPUT, -o names the output file (e.g. {path / 'out.png'}).")
    fmt = format_from_suffix(path)
    if fmt == "jpeg" and (kind == "cutout" or (background is not None and background.kind == "transparent")):
        raise PortraitStudioError(
            f"{path}: JPEG cannot store transparency. Save the cut-out as .png or .webp, or choose a background."
        )
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    if folder is not None and not os.access(folder, os.W_OK):
        raise PortraitStudioError(f"{folder} cannot be written to: choose an output file in a folder you can write to.")


def _background(
    args: argparse.Namespace, preset: dict[type[Settings], Settings], frame: FrameSettings, command: str
) -> Background | None:
    """The replace command's background (with the blur options); an ID photo's own plain one when none is given."""
    if command != "replace":
        return None
    if args.background is None:
        if frame.id_photo == "none":
            raise PortraitStudioError(
                "replace needs --background: a colour (#RRGGBB or a name such as 'white'), 'blur', 'transparent' or an "
                "image path (or --id-photo NAME, which brings its own plain light background)."
            )
        return None  # core.compose gives the preset's
    background = Background.parse(args.background, _read_background)
    if background.kind == "blur":
        blur = _settings_from_args(BlurSettings, args, preset)
        kernel = blur.blur_kernel if args.blur_kernel is not None or BlurSettings in preset else background.blur_kernel
        background = Background(kind="blur", blur_sigma_pct=blur.blur_strength_pct, blur_kernel=kernel)
    return background


def list_presets(stdout: TextIO) -> int:
    """`python -m core presets`: the ID-photo presets, one line each."""
    for name, preset in ID_PRESETS.items():
        unit = preset.unit
        head = f"head {preset.head[0]:g}-{preset.head[1]:g} {unit}"
        where = f"eyes {preset.eyes[0]:g}-{preset.eyes[1]:g} {unit} from the bottom" if preset.eyes else f"crown {preset.crown_gap:g} {unit} from the top"
        print(f"{name:16} {preset.size_text:10} {head}, {where}; {preset.label} ({preset.source})", file=stdout)
    print("Use one with --id-photo NAME (and --print-sheet for a 10x15 cm sheet of a printed one).", file=stdout)
    return 0


def _recipe_options(args: argparse.Namespace, command: str) -> dict:
    """The recipe the options (and --preset) give, as core.pipeline.process keyword arguments; sets the pixel
    limits; raises PortraitStudioError on options that do not go together."""
    set_pixel_limits(args.max_megapixels, args.working_megapixels)
    preset = read_preset(args.preset) if args.preset else {}
    settings = None if args.no_refine else _settings_from_args(RefineSettings, args, preset)
    finishing = _settings_from_args(FinishSettings, args, preset)
    inference = None
    if get_spec(args.model).members:
        if InferenceSettings in preset:
            raise PortraitStudioError(
                f"{args.preset} holds network-input settings, which apply to one network, and '{args.model}' shows "
                f"the photo to each of its networks the way measured best for it. Add --model u2netp or "
                f"--model modnet (the network the preset was saved with)."
            )
        if _given(InferenceSettings, args):
            options = ", ".join(
                _option(("no_" if value is False else "") + name) for name, value in _given(InferenceSettings, args).items()
            )
            raise PortraitStudioError(
                f"{options}: network-input options apply to one network, and '{args.model}' shows the photo to "
                f"each of its networks the way measured best for it. Add --model u2netp or --model modnet to use them."
            )
    else:
        inference = _settings_from_args(InferenceSettings, args, preset)
    frame = _settings_from_args(FrameSettings, args, preset)
    shadow = _settings_from_args(ShadowSettings, args, preset)
    output = _settings_from_args(OutputSettings, args, preset)
    background = _background(args, preset, frame, command)
    if frame.print_sheet and (command != "replace" or (background is not None and background.kind == "transparent")):
        raise PortraitStudioError(
            "--print-sheet makes a sheet to print: use the replace command with a background (or none: the ID "
            "preset's own), not transparency."
        )
    return {"settings": settings, "finishing": finishing, "inference": inference, "background": background,
            "frame": frame, "shadow": shadow, "output": output}


def run(argv: list[str] | None = None, *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "presets":
        return list_presets(stdout)
    if args.command == "batch":
        from core.batch_command import run_batch

        return run_batch(args, stdout, stderr)
    if not args.input.exists():
        print(f"error: {args.input} does not exist", file=stderr)
        return 2
    folder_mode = args.input.is_dir()
    try:
        if folder_mode:
            check_output_folder(args.input, args.output, args.in_place)
        else:
            check_readable_file(args.input)
            check_not_input(args.output, [args.input])
        options = _recipe_options(args, args.command)
        edits = _read_edits(args.edits, folder_mode)
        if args.report is not None:
            _check_report(args.report, args.input, folder_mode)
        if not folder_mode:
            _check_output_file(args.output, KINDS[args.command], options["background"])
        elif args.output.exists() and not args.output.is_dir():
            raise PortraitStudioError(f"{args.output} is a file; with a folder as INPUT, -o must be a folder.")
        from core.segmentation import get_segmenter

        segmenter = get_segmenter(args.model, args.device, weights_path=args.weights, progress=_download_progress(stderr))
    except PortraitStudioError as exc:
        print(f"error: {exc}", file=stderr)
        return 2
    options["edits"] = edits
    run_options = {"skip_existing": args.skip_existing, "report": args.report}
    if not folder_mode:
        return _process_all(_jobs(args.input, args.output), segmenter, KINDS[args.command], options, stdout, stderr,
                            folder=False, **run_options)
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        jobs = _jobs(args.input, args.output)
        if not jobs:
            print(f"error: no images ({', '.join(IMAGE_SUFFIXES)}) in {args.input}", file=stderr)
            return 1
        with FolderLock(args.output):
            return _process_all(jobs, segmenter, KINDS[args.command], options, stdout, stderr, folder=True, **run_options)
    except OSError as exc:
        print(f"error: cannot write into {args.output}: {exc.strerror or exc}", file=stderr)
        return 1
    except PortraitStudioError as exc:
        print(f"error: {exc}", file=stderr)
        return 1


def _process_all(
    jobs, segmenter: Segmenter, kind: OutputKind, options: dict, stdout, stderr, folder: bool,
    skip_existing: bool = False, report: Path | None = None,
) -> int:
    """Process every (source, target) job with `options` (process() keyword arguments); 1 if any failed, 130 on Ctrl-C.

    Each result is written atomically (`core.output.write_atomic`); the closing count is of files written.
    `skip_existing` leaves a target that exists alone; `report` receives one row per job (also after Ctrl-C).
    """
    from core.memory import keep_freed_memory_for_reuse
    from core.pipeline import process

    keep_freed_memory_for_reuse()  # each photo reuses the memory the last one freed (no fresh page faults)
    written: list[Path] = []
    skipped: list[Path] = []
    rows: list[dict] = []
    failures = 0
    bar = ProgressLine(stderr, "images") if folder else None
    try:
        for index, (source, target) in enumerate(jobs, start=1):
            start = time.perf_counter()
            row = {"input": str(source), "output": str(target), "status": "", "error": "", "seconds": "", "needs_a_look": ""}
            rows.append(row)
            if skip_existing and target.exists():
                skipped.append(source)
                row["status"] = "skipped (exists)"
                if bar is not None:
                    bar.update(index, len(jobs), source.name)
                continue
            try:
                result = process(str(source), segmenter, kind=kind, fmt=format_from_suffix(target), **options)
                write_atomic(target, result.encoded)
                written.append(source)
                row.update(status="written", seconds=f"{time.perf_counter() - start:.3f}",
                           needs_a_look=f"{result.needs_a_look:.4f}")
                status = f"{source.name} -> {target} ({time.perf_counter() - start:.2f} s)"
                for note in (*result.decoded.notes, *result.notes):
                    status += f"; note: {note}"
                if bar is None or result.decoded.notes or result.notes:  # folder mode: a line only for files read with a note
                    if bar is not None:
                        bar.clear()
                    print(status, file=stdout)
            except Exception as exc:  # report it and keep going over a folder, no traceback
                failures += 1
                reason = str(exc) if isinstance(exc, PortraitStudioError) else f"unexpected {type(exc).__name__}: {exc}"
                row.update(status="failed", error=reason, seconds=f"{time.perf_counter() - start:.3f}")
                if bar is None:  # one file: nothing was skipped, it failed
                    print(f"error: {reason}", file=stderr)
                    continue
                bar.clear()
                print(f"error: skipped {source.name}: {reason}", file=stderr)
            if bar is not None:
                bar.update(index, len(jobs), source.name)
    except KeyboardInterrupt:
        if bar is not None:
            bar.clear()
        if report is not None:
            if rows and not rows[-1]["status"]:
                rows[-1]["status"] = "interrupted"
            done = {row["input"] for row in rows}
            rows += [{"input": str(s), "output": str(t), "status": "not started", "error": "", "seconds": "",
                      "needs_a_look": ""} for s, t in jobs if str(s) not in done]
            _write_report(report, rows)
        missing = [source.name for source, _ in jobs if source not in written and source not in skipped]
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        print(
            f"interrupted: {len(written)} of {len(jobs)} images written to {jobs[0][1].parent}; not written: {listed}",
            file=stderr,
        )
        return 130
    if report is not None:
        _write_report(report, rows)
    if bar is not None:
        bar.close()
        left = f"; {len(skipped)} already there, left as they were" if skipped else ""
        print(f"{len(written)} of {len(jobs)} images written to {jobs[0][1].parent}{left}", file=stdout)
    elif skipped:
        print(f"{jobs[0][1]} already exists: left as it was (--skip-existing)", file=stdout)
    return 1 if failures else 0


def main() -> None:
    """Entry point of `python -m core`; Ctrl-C before the first photo ends with a line and exit 130, not a traceback."""
    try:
        sys.exit(run())
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        sys.exit(130)
