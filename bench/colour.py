"""Colour options on composites with a known truth: decontamination, harmonisation and light wrap.

    python -m bench.colour [--data ../shared/data/dev/eg1800_train_subset] [--limit N] [--out bench/results]

The dev set's hand-labelled masks are binary and its photos have no known true colours at the edge, so
the truth is built: for each photo F (the photo itself), a soft alpha (the mask blurred by a Gaussian of
`--sigma` px and quantised to 1/255, like an 8-bit matte) and an "old background" B1 (a flat lawn green
on even-indexed photos, another dev photo, blurred like an out-of-focus backdrop, on odd-indexed ones:
`--old`) give the input I = aF + (1 - a)B1 (uint8). The subject is then put onto new backgrounds B2
(white, dark, a busy photo: another dev photo, sharp) with `core.finishing.finish` under each colour
option, using the TRUE alpha (colour error alone) and the alpha our pipeline predicts from I (u2netp +
u2netp's refinement defaults: the realistic case), and compared with the truth aF + (1 - a)B2 (blended the app's
way, so a perfect foreground estimate scores exactly 0). Writes bench/results/colour.md and colour.csv.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.common import add_data_options, add_output_options, list_stems, load_sample, revision
from core.composite import Background, background_plate, blend, cover_fit
from core.finishing import FinishSettings, finish
from core.pipeline import alpha_from_prediction, predict
from core.refine import RefineSettings
from core.segmentation import get_segmenter

#: Old background B1 "green": a flat, strongly coloured lawn green (what bleeds into the edge).
LAWN_GREEN = (74, 140, 52)
#: New backgrounds B2: white, dark, and "busy" (another dev photo, see new_plates).
WHITE = (255, 255, 255)
DARK = (20, 22, 28)
NEW_BACKGROUNDS = ("white", "dark", "busy")
ALPHA_SOURCES = ("true", "predicted")
#: Blur of the "photo" old background, in % of the long side (an out-of-focus backdrop).
OLD_PHOTO_BLUR_PCT = 1.0
DEFAULT_SIGMA_PX = 2.0


@dataclass(frozen=True)
class Option:
    """One colour configuration: a name, a description, its FinishSettings and whether it aims at the truth.

    kind "error": the option tries to restore the true colours (its distance from the truth is an error);
    kind "change": it changes colours on purpose (harmonize, light wrap): its distance is a change.
    """

    name: str
    label: str
    settings: FinishSettings
    kind: str = "error"


def options() -> list[Option]:
    """No decontamination (before), a few strengths, the defaults, the defaults + harmonize / + light wrap."""
    off = FinishSettings(decontaminate=False, harmonize=False, light_wrap=False)
    default = FinishSettings()
    out = [Option("off", "no decontamination (as before)", off)]
    for strength in (0.25, 0.5, 1.0):
        s = dataclasses.replace(off, decontaminate=True, decontaminate_strength=strength)
        if s != default:
            out.append(Option(f"decon_{strength:g}", f"decontaminate, strength {strength:g}", s))
    parts = [f"decontaminate {default.decontaminate_strength:g}" if default.decontaminate else "no decontamination"]
    parts += [f"harmonize {default.harmonize_strength:g}"] if default.harmonize else []
    parts += [f"light wrap {default.light_wrap_strength:g}"] if default.light_wrap else []
    out.append(Option("defaults", f"FinishSettings() defaults: {', '.join(parts)}", default))
    if not default.harmonize:
        s = dataclasses.replace(default, harmonize=True)
        out.append(Option("defaults+harmonize", f"defaults + harmonize {s.harmonize_strength:g}", s, "change"))
    if not default.light_wrap:
        s = dataclasses.replace(default, light_wrap=True)
        out.append(Option("defaults+light_wrap", f"defaults + light wrap {s.light_wrap_strength:g} "
                          f"(radius {s.light_wrap_radius_pct:g} %)", s, "change"))
    return out


# ------------------------------------------------------------------------------------ pure helpers


def soft_alpha(mask: np.ndarray, sigma_px: float) -> np.ndarray:
    """bool HxW mask -> float32 HxW alpha: Gaussian-blurred (sigma px, replicated borders), quantised to k/255.

    Quantising makes the edge band exact: values below 0.5/255 become 0 and above 254.5/255 become 1.
    sigma_px <= 0 returns the mask as 0/1.
    """
    a = mask.astype(np.float32)
    if sigma_px > 0:
        a = cv2.GaussianBlur(a, (0, 0), sigma_px, sigma_px, borderType=cv2.BORDER_REPLICATE)
    return (np.rint(np.clip(a, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def extend_subject(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 photo, bool HxW mask -> the photo inside the mask, the nearest subject pixel's colour outside.

    This is the synthetic true foreground colour F: in the soft band, the subject's own colours carried
    outward (what a hair strand over the old background would be), not the photo's original background.
    A mask that is empty or full returns a copy of the photo. Distances are cv2's 5x5 approximation of L2.
    """
    if mask.all() or not mask.any():
        return photo.copy()
    src = np.where(mask, 0, 255).astype(np.uint8)  # distances are to the nearest zero pixel: the subject
    _, labels = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    rows, cols = np.nonzero(mask)
    lut = np.zeros((int(labels.max()) + 1, 2), np.intp)
    lut[labels[rows, cols]] = np.stack([rows, cols], axis=1)
    nearest = lut[labels]
    return photo[nearest[..., 0], nearest[..., 1]]


def edge_band(alpha: np.ndarray) -> np.ndarray:
    """float HxW alpha -> bool HxW, True where 0 < alpha < 1 (the soft edge)."""
    return (alpha > 0.0) & (alpha < 1.0)


def old_background(kind: str, shape: tuple[int, int], other: np.ndarray | None = None) -> np.ndarray:
    """The old background B1, uint8 HxW x3: 'green' (flat lawn green) or 'photo' (`other` cover-fitted, blurred)."""
    if kind == "green":
        plate = np.empty((*shape, 3), np.uint8)
        plate[...] = LAWN_GREEN
        return plate
    if kind == "photo":
        if other is None:
            raise ValueError("the 'photo' old background needs another photo")
        plate = cover_fit(other, shape)
        sigma = OLD_PHOTO_BLUR_PCT / 100.0 * max(shape)
        return cv2.GaussianBlur(plate, (0, 0), sigma, sigma, borderType=cv2.BORDER_REPLICATE)
    raise ValueError(f"unknown old background {kind!r}")


def synthesize(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """uint8 aF + (1 - a)B, blended and rounded exactly as the app blends (core.composite.blend).

    Used for both the synthetic input I (B = the old background) and the truth (B = the new one).
    """
    return blend(foreground, alpha, background)


def colour_error(result: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean absolute difference in levels (0-255) over the pixels of `region` (bool HxW; None: all) and channels.

    nan if the region is empty.
    """
    diff = np.abs(result.astype(np.int16) - truth.astype(np.int16))
    if region is not None:
        if not region.any():
            return float("nan")
        diff = diff[region]
    return float(diff.mean())


def partner(index: int, count: int, offset: int) -> int:
    """Index of the photo `offset` places further on, wrapping (the old / busy background of photo `index`)."""
    return (index + offset) % count


def old_kind(index: int, mode: str) -> list[str]:
    """Old background kinds for photo `index`: mode 'alternate' gives green on even, photo on odd indices."""
    if mode == "alternate":
        return ["green" if index % 2 == 0 else "photo"]
    if mode == "both":
        return ["green", "photo"]
    return [mode]


def summary(values: list[float]) -> dict[str, float]:
    """Mean and 90th percentile of the finite values (nan, nan if none), and how many there were."""
    v = np.array([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "p90": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "p90": float(np.percentile(v, 90)), "n": int(v.size)}


# ------------------------------------------------------------------------------------------- run


@dataclass
class Row:
    """One composite: photo, old background, alpha source, new background, option; errors in levels."""

    stem: str
    old: str
    alpha: str
    new: str
    option: str
    edge: float  # mean |result - truth| in the true edge band
    whole: float  # ... over the whole image
    edge_vs_defaults: float  # mean |result - defaults' result| in the edge band (nan for the defaults)
    whole_vs_defaults: float
    ms: float  # finish() wall-clock


def new_plates(busy: np.ndarray) -> dict[str, Background]:
    """The new backgrounds for one photo: white, dark, and `busy` (a photo, cover-fitted by finish)."""
    return {
        "white": Background(kind="color", color=WHITE),
        "dark": Background(kind="color", color=DARK),
        "busy": Background(kind="image", image=busy),
    }


def run(data: Path, stems: list[str], sigma_px: float, old_mode: str, truth_f: str = "extended", log=print) -> tuple[list[Row], dict[str, list[float]]]:
    """Every photo x old background x alpha source x new background x option; also network and alpha stats."""
    segmenter = get_segmenter("u2netp", "cpu", allow_download=False)
    opts = options()
    refine = RefineSettings.for_model(segmenter.spec)
    rows: list[Row] = []
    extra: dict[str, list[float]] = {"net_ms": [], "alpha_mae": [], "alpha_mae_band": [], "band_frac": []}
    n = len(stems)
    warm = load_sample(data, stems[0])  # model load and first-call costs: not timed
    predict(warm.rgb, segmenter)
    finish(warm.rgb, soft_alpha(warm.mask, sigma_px), Background(kind="color"), FinishSettings())
    started = time.perf_counter()
    for i, stem in enumerate(stems):
        sample = load_sample(data, stem)
        shape = sample.rgb.shape[:2]
        alpha_true = soft_alpha(sample.mask, sigma_px)
        band = edge_band(alpha_true)
        extra["band_frac"].append(float(band.mean()))
        fg = extend_subject(sample.rgb, sample.mask) if truth_f == "extended" else sample.rgb
        busy = load_sample(data, stems[partner(i, n, n // 2)]).rgb
        plates = new_plates(busy)
        truths = {name: synthesize(fg, alpha_true, background_plate(sample.rgb, alpha_true, bg))
                  for name, bg in plates.items()}
        for old in old_kind(i, old_mode):
            other = load_sample(data, stems[partner(i, n, 1)]).rgb if old == "photo" else None
            image = synthesize(fg, alpha_true, old_background(old, shape, other))
            t = time.perf_counter()
            _, alpha_pred = alpha_from_prediction(predict(image, segmenter), shape, refine, image=image)
            extra["net_ms"].append(1000 * (time.perf_counter() - t))
            extra["alpha_mae"].append(float(np.abs(alpha_pred - alpha_true).mean()))
            extra["alpha_mae_band"].append(float(np.abs(alpha_pred - alpha_true)[band].mean()))
            for source, alpha in (("true", alpha_true), ("predicted", alpha_pred)):
                for new, bg in plates.items():
                    reference = None
                    for opt in opts:
                        t = time.perf_counter()
                        out = finish(image, alpha, bg, opt.settings)
                        ms = 1000 * (time.perf_counter() - t)
                        if opt.name == "defaults":
                            reference = out
                        vs = (colour_error(out, reference, band), colour_error(out, reference)) \
                            if reference is not None and opt.name != "defaults" else (float("nan"),) * 2
                        rows.append(Row(stem, old, source, new, opt.name, colour_error(out, truths[new], band),
                                        colour_error(out, truths[new]), *vs, ms))
        if (i + 1) % 10 == 0 or i + 1 == n:
            log(f"  {i + 1}/{n} photos, {time.perf_counter() - started:.0f} s", flush=True)
    return rows, extra


# --------------------------------------------------------------------------------------- report


def write_csv(rows: list[Row], path: Path) -> None:
    """One line per composite."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stem", "old_bg", "alpha", "new_bg", "option", "edge_err", "whole_err",
                         "edge_vs_defaults", "whole_vs_defaults", "ms"])
        for r in rows:
            writer.writerow([r.stem, r.old, r.alpha, r.new, r.option, f"{r.edge:.3f}", f"{r.whole:.4f}",
                             "" if np.isnan(r.edge_vs_defaults) else f"{r.edge_vs_defaults:.3f}",
                             "" if np.isnan(r.whole_vs_defaults) else f"{r.whole_vs_defaults:.4f}", f"{r.ms:.1f}"])


def _pick(rows: list[Row], **where: str) -> list[Row]:
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def _f(x: float, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _table(rows: list[Row], opts: list[Option], source: str, kind: str) -> list[str]:
    if kind == "error":
        head = ["| option | edge: white | edge: dark | edge: busy | **edge: all** | edge p90 | whole image | ms / composite |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    else:
        head = ["| option | from truth, edge | from truth, whole | from defaults, edge: white | dark | busy | "
                "from defaults, whole | ms / composite |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines = head
    for opt in opts:
        if opt.kind != kind:
            continue
        sel = _pick(rows, alpha=source, option=opt.name)
        if not sel:
            continue
        edge = summary([r.edge for r in sel])
        whole = summary([r.whole for r in sel])
        ms = summary([r.ms for r in sel])["mean"]
        if kind == "error":
            per = [summary([r.edge for r in sel if r.new == new])["mean"] for new in NEW_BACKGROUNDS]
            mark = "**" if opt.name == "defaults" else ""
            lines.append(f"| {mark}{opt.name}{mark}: {opt.label} | {' | '.join(_f(x) for x in per)} | "
                         f"**{_f(edge['mean'])}** | {_f(edge['p90'])} | {_f(whole['mean'], 3)} | {ms:.0f} |")
        else:
            per = [summary([r.edge_vs_defaults for r in sel if r.new == new])["mean"] for new in NEW_BACKGROUNDS]
            vs_whole = summary([r.whole_vs_defaults for r in sel])["mean"]
            lines.append(f"| {opt.name}: {opt.label} | {_f(edge['mean'])} | {_f(whole['mean'], 3)} | "
                         f"{' | '.join(_f(x) for x in per)} | {_f(vs_whole, 3)} | {ms:.0f} |")
    return lines


def _mean(rows: list[Row], field: str, **where: str) -> float:
    return summary([getattr(r, field) for r in _pick(rows, **where)])["mean"]


def headline(rows: list[Row], opts: list[Option]) -> list[str]:
    """The summary in sentences: what decontamination buys against no decontamination, and the changes' sizes."""
    lines = []
    for source, what in (("true", "true alpha (colour alone)"), ("predicted", "predicted alpha (realistic)")):
        off, on = _mean(rows, "edge", alpha=source, option="off"), _mean(rows, "edge", alpha=source, option="defaults")
        woff, won = _mean(rows, "whole", alpha=source, option="off"), _mean(rows, "whole", alpha=source, option="defaults")
        errors = {o.name: _mean(rows, "edge", alpha=source, option=o.name) for o in opts if o.kind == "error"}
        best = min(errors, key=lambda k: errors[k] if np.isfinite(errors[k]) else np.inf)
        if not (np.isfinite(off) and np.isfinite(on)):
            continue
        lines.append(
            f"- **{what}**: the defaults' decontamination takes the edge-band error from {off:.2f} to {on:.2f} "
            f"levels ({100 * (on - off) / off:+.0f} %), whole image {woff:.3f} → {won:.3f}; lowest edge error: "
            f"`{best}` ({errors[best]:.2f})."
        )
    cost = _mean(rows, "ms", option="defaults") - _mean(rows, "ms", option="off")
    lines.append(f"- Cost of decontamination: +{cost:.0f} ms per 600x800 composite ({_mean(rows, 'ms', option='off'):.0f} "
                 f"→ {_mean(rows, 'ms', option='defaults'):.0f} ms).")
    for o in opts:
        if o.kind != "change":
            continue
        per = ", ".join(f"{new} {_mean(rows, 'edge_vs_defaults', alpha='true', option=o.name, new=new):.1f}"
                        for new in NEW_BACKGROUNDS)
        extra_ms = _mean(rows, "ms", option=o.name) - _mean(rows, "ms", option="defaults")
        lines.append(
            f"- `{o.name}` (a change on purpose, true alpha): moves the edge band by {per} levels and the whole "
            f"image by {_mean(rows, 'whole_vs_defaults', alpha='true', option=o.name):.2f} levels from the defaults' "
            f"output; +{extra_ms:.0f} ms per composite."
        )
    return lines


def markdown(rows: list[Row], extra: dict[str, list[float]], data: Path, n: int, sigma_px: float, old_mode: str,
             truth_f: str, elapsed: float, argv: list[str], load: str = "") -> str:
    """The report."""
    opts = options()
    olds = sorted({r.old for r in rows})
    lines = [
        "# Colour options on composites with a known truth",
        "",
        f"Data: `{Path(data).name}`, {n} photos (600x800). Machine: {os.cpu_count()} CPUs "
        f"({platform.machine()}), Python {platform.python_version()}, code at `{revision()}`. "
        f"Run: `python -m bench.colour {' '.join(argv)}` ({elapsed / 60:.1f} min, {time.strftime('%Y-%m-%d')})"
        + (f"; load average at start {load} (2 cores shared with other work)." if load else "."),
        "",
        "## Summary",
        "",
        *headline(rows, opts),
        "",
        "**How the truth is made.** F = "
        + ("the dev photo inside its mask and, outside, the colour of the nearest subject pixel (the subject's "
           "colours carried outward over the edge, as a hair strand would be; `extend_subject`)"
           if truth_f == "extended" else "the dev photo itself (`--truth-f photo`)")
        + "; alpha = its hand-labelled mask blurred by a Gaussian of "
        f"sigma {sigma_px:g} px and quantised to 1/255 (edge band 0 < alpha < 1: "
        f"{100 * np.mean(extra['band_frac']):.1f} % of the pixels); old background B1 = "
        + {"alternate": f"flat lawn green {LAWN_GREEN} on even-indexed photos, the next dev photo blurred "
                        f"(sigma {OLD_PHOTO_BLUR_PCT:g} % of the long side) on odd-indexed ones",
           "both": f"both flat lawn green {LAWN_GREEN} and the next dev photo blurred "
                   f"(sigma {OLD_PHOTO_BLUR_PCT:g} % of the long side), for every photo",
           "green": f"flat lawn green {LAWN_GREEN}",
           "photo": f"the next dev photo blurred (sigma {OLD_PHOTO_BLUR_PCT:g} % of the long side)"}[old_mode]
        + "; input I = aF + (1 - a)B1 as uint8. New backgrounds B2: white, dark "
        f"{DARK}, busy = the dev photo half the list further on (sharp, cover-fitted). Truth = aF + (1 - a)B2 "
        "blended like the app (`core.composite.blend`), so an exact foreground estimate scores 0. Each option "
        "is `core.finishing.finish(I, alpha, B2, settings)`.",
        "",
        "Numbers are mean absolute differences in levels (0-255, averaged over pixels and the 3 channels): "
        "**edge** over the true edge band, **whole** over the whole image; mean over composites (photo x new "
        "background), p90 = their 90th percentile. ms / composite = wall-clock of one `finish` call at 600x800 "
        "(the 2 cores were shared with other work: compare within a table).",
        "",
        "## True alpha: colour error alone",
        "",
        "With the true alpha the only error left is the old background's colour in the edge "
        "(no decontamination: a(1 - a)|B1 - F| per pixel).",
        "",
        *_table(rows, opts, "true", "error"),
        "",
        "## Predicted alpha: the realistic case",
        "",
        "The pipeline's own alpha from I (u2netp on the bundled weights, its own refinement defaults): mask "
        f"error now dominates (mean |alpha_pred - alpha_true| {np.mean(extra['alpha_mae']):.4f} over the image, "
        f"{np.mean(extra['alpha_mae_band']):.3f} in the true edge band; network + refinement "
        f"{np.mean(extra['net_ms']):.0f} ms / photo, not included below). Still measured in the TRUE edge band.",
        "",
        *_table(rows, opts, "predicted", "error"),
        "",
        "## By old background (edge band, mean over the new backgrounds)",
        "",
        "| option | " + " | ".join(f"true alpha, B1 {o}" for o in olds) + " | "
        + " | ".join(f"predicted, B1 {o}" for o in olds) + " |",
        "| --- |" + " ---: |" * (2 * len(olds)),
    ]
    for opt in opts:
        if opt.kind != "error":
            continue
        cells = [summary([r.edge for r in _pick(rows, alpha=s, option=opt.name, old=o)])["mean"]
                 for s in ALPHA_SOURCES for o in olds]
        lines.append(f"| {opt.name} | " + " | ".join(_f(x) for x in cells) + " |")
    lines += [
        "",
        "## Harmonize and light wrap: intended changes",
        "",
        "These change colours on purpose, so their distance is a **change**, not an error: from the truth "
        "(decontamination error + the change) and from the defaults' own output (the change alone).",
        "",
        "True alpha:",
        "",
        *_table(rows, opts, "true", "change"),
        "",
        "Predicted alpha:",
        "",
        *_table(rows, opts, "predicted", "change"),
        "",
        "## Notes",
        "",
        "- Per-composite numbers: `bench/results/colour.csv` (stem, old and new background, alpha source, "
        "option, errors, ms).",
        "- Why F is extended: with F = the photo itself (`--truth-f photo`), the outer half of the band's "
        "\"true\" colour is the photo's ORIGINAL background (a wall behind the subject), which no foreground "
        "estimator can or should recover; extending the subject's colours makes F what matting assumes. "
        "The photo's own pixels just inside the hand-drawn edge may still carry some of its original background.",
        "- The soft alpha is a blurred binary mask, smooth and band-limited: real hair mattes are harder, so "
        "the true-alpha figures are a best case for the estimator.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.colour", description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA_PX,
                        help=f"Gaussian sigma (px) that softens the mask into the true alpha (default {DEFAULT_SIGMA_PX:g})")
    parser.add_argument("--old", choices=("alternate", "both", "green", "photo"), default="alternate",
                        help="old background: green on even / blurred photo on odd photos (default), both, or one")
    parser.add_argument("--truth-f", choices=("extended", "photo"), default="extended",
                        help="true foreground F: the photo with the subject's colours carried outward over its mask "
                             "edge (default), or the photo itself")
    add_output_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Build the truth, composite under every option, write colour.md and colour.csv."""
    args = build_parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else ""
    stems = list_stems(args.data, args.limit)
    print(f"{len(stems)} photos from {args.data}", flush=True)
    rows, extra = run(args.data, stems, args.sigma, args.old, args.truth_f)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / "colour.csv")
    report = markdown(rows, extra, args.data, len(stems), args.sigma, args.old, args.truth_f, time.perf_counter() - started, argv,
                      load)
    (args.out / "colour.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
