"""Tune the RefineSettings defaults on the dev set by coordinate search; prints and records the best.

    python -m bench.tune --data ../shared/data/dev/eg1800_train_subset
    python -m bench.tune --limit 2 --out /tmp/tune --cache /tmp/cache    # a quick check

Searches on the even-indexed photos only (the odd ones are held out), maximising the mean boundary F
(3 px) subject to a mean IoU not below the raw network mask's. Each pass tries every grid value of
every field in turn (trying a step's size switches that step on) and keeps a change only if it raises
BF by more than --min-gain; passes repeat until none changes anything. The network outputs come from
bench.quality's cache (or are computed once), for the model chosen with --model (default: the default
model; its refinement is the search's start). Refinement is replayed step by step over core.refine.STEPS
(the table core.refine.refine runs), keeping each step's output for the current settings, so that
trying a later step's value does not redo the earlier steps. Writes bench/results/tuning.md and
tuning.json; adopting the result as defaults in core/refine.py is a deliberate, manual step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.common import add_data_options, add_output_options, list_stems, load_sample, shown, split_of
from bench.metrics import GroundTruth, score
from bench.quality import model_predictions, seed_settings, settings_diff
from core.arrays import as_alpha
from core.refine import STEPS, RefineSettings, RefineStep, refine, step_fields
from core.segmentation import resize_prediction
from core.weights import DEFAULT_MODEL, REGISTRY

#: Candidate values per RefineSettings parameter (each a multiple of the field's step, inside its min/max). Data
#: about search values only: the steps and their switches come from core.refine.STEPS, searched in the order
#: it runs them; a step is searched (switched off and on, then its values here) when it has values here or
#: no parameters at all, so a step whose parameters have none (matting) keeps its start values.
GRID: dict[str, tuple] = {
    "edge_radius_pct": (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0),
    "edge_smoothness": (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03),
    "bilateral_sigma_space_pct": (0.1, 0.25, 0.5, 0.75, 1.0, 1.5),  # window capped at 31 px: ~0.94 % at 800 px
    "bilateral_sigma_color": (0.05, 0.1, 0.15, 0.2, 0.3, 0.5),
    "black_point": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6),
    "white_point": (0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
    "opening_size_pct": (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0),
    "closing_size_pct": (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0),
    "feather_sigma_pct": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0),
}
#: The fields that decide each step's output (its switch, then its parameters), by step name.
FIELDS: dict[str, tuple[str, ...]] = {step.name: step_fields(step) for step in STEPS}
#: The step each RefineSettings field belongs to.
STEP_OF: dict[str, str] = {field: name for name, fields in FIELDS.items() for field in fields}


def searched_fields() -> list[str]:
    """The fields the search tries, in the order refine runs their steps: each searched step's switch, then
    its parameters that GRID has values for."""
    unknown = sorted(set(GRID) - set(STEP_OF) | set(GRID) & set(FIELDS))
    if unknown:
        raise SystemExit(f"bench/tune.py GRID names {', '.join(unknown)}, which is not a parameter of a step of "
                         f"core.refine.STEPS: rename or drop it (switches are searched without GRID values)")
    out = []
    for step in STEPS:
        parameters = FIELDS[step.name][1:]
        values = [name for name in parameters if name in GRID]
        if values or not parameters:
            out += [step.name, *values]
    return out


def grid_values(name: str) -> tuple:
    """The candidate values of a searched field: off and on for a step's switch, else GRID's."""
    return (False, True) if name in FIELDS else GRID[name]


def step_key(settings: RefineSettings, step: RefineStep) -> tuple:
    """The settings that decide one step's output: off, or its switch and parameters (`step_fields`)."""
    if not getattr(settings, step.name):
        return (False,)
    return tuple(getattr(settings, name) for name in FIELDS[step.name])


def apply_step(step: RefineStep, alpha: np.ndarray, settings: RefineSettings, photo: np.ndarray | None) -> np.ndarray:
    """One step of core.refine.refine on a checked matte: its output when on (and given the photo it needs), else alpha."""
    if getattr(settings, step.name) and (photo is not None or not step.needs_photo):
        return step.run(alpha, settings, photo)
    return alpha


class StagedScorer:
    """Scores settings on a fixed set of photos, reusing step outputs shared with the last settings scored."""

    def __init__(self, raws: list[np.ndarray], truths: list[GroundTruth], images: list[np.ndarray | None],
                 steps: Sequence[RefineStep] = STEPS) -> None:
        for raw, image in zip(raws, images, strict=True):
            if image is not None and image.shape != (*np.shape(raw), 3):
                raise ValueError(f"photo {image.shape} and network output {np.shape(raw)} differ in size")
        self.raws = [as_alpha(raw) for raw in raws]  # checked once, as refine() checks its input
        self.truths, self.images, self.steps = truths, images, tuple(steps)
        self.keys: list[tuple] = []  # keys[k]: cumulative key of steps 0..k whose outputs are in self.stages[k]
        self.stages: list[list[np.ndarray]] = []
        self.memo: dict[RefineSettings, dict[str, float]] = {}

    def alphas(self, s: RefineSettings) -> list[np.ndarray]:
        """Refined alphas of every photo under s (same result as core.refine.refine)."""
        steps = self.steps
        keys = [tuple(step_key(s, step) for step in steps[: k + 1]) for k in range(len(steps))]
        start = 0
        while start < len(self.keys) and self.keys[start] == keys[start]:
            start += 1
        current = self.raws if start == 0 else self.stages[start - 1]
        del self.keys[start:], self.stages[start:]
        for k in range(start, len(steps)):
            current = [apply_step(steps[k], a, s, im) for a, im in zip(current, self.images)]
            self.keys.append(keys[k])
            self.stages.append(current)
        return current

    def __call__(self, s: RefineSettings) -> dict[str, float]:
        """Mean IoU, BF and MAE of s over the photos (memoised); 'ious' holds the per-photo IoU."""
        if s not in self.memo:
            scores = [score(a, t) for a, t in zip(self.alphas(s), self.truths)]
            means = {k: float(np.mean([x[k] for x in scores])) for k in ("iou", "bf", "mae")}
            self.memo[s] = {**means, "ious": np.array([x["iou"] for x in scores])}
        return self.memo[s]


def candidates(s: RefineSettings, name: str) -> list[RefineSettings]:
    """Valid settings that differ from s in `name`, one per grid value (a size also switches its step on)."""
    out = []
    for value in grid_values(name):
        if name == "black_point" and value >= s.white_point or name == "white_point" and value <= s.black_point:
            continue
        switch = {} if name == STEP_OF[name] else {STEP_OF[name]: True}
        out.append(dataclasses.replace(s, **{**switch, name: value}))
    return out


def coordinate_search(
    evaluate: Callable[[RefineSettings], dict], start: RefineSettings, raw: dict,
    *, max_drop: float = 0.005, min_gain: float = 5e-4, max_passes: int = 4, frozen: frozenset[str] = frozenset(),
    log: Callable[[str], None] = print,
) -> tuple[RefineSettings, list[dict]]:
    """Coordinate ascent on mean BF; feasible: mean IoU >= raw's and no photo's IoU below raw's - max_drop.

    Fields in `frozen` keep their start values; freezing a step's switch freezes its sizes too.
    """

    def feasible(s: RefineSettings) -> bool:
        m = evaluate(s)
        return m["iou"] >= raw["iou"] and bool(np.all(m["ious"] >= raw["ious"] - max_drop))

    best = start
    trace: list[dict] = []
    for p in range(1, max_passes + 1):
        changed = False
        for name in searched_fields():
            if name in frozen or STEP_OF[name] in frozen:
                continue
            options = candidates(best, name)
            ok = [c for c in options if feasible(c)]
            top = max(ok, key=lambda c: evaluate(c)["bf"], default=best)
            base = evaluate(best)["bf"] if feasible(best) else -math.inf
            if top != best and evaluate(top)["bf"] > base + min_gain:
                best, changed = top, True
            tried = {str(getattr(c, name)): round(evaluate(c)["bf"], 5) if c in ok else None for c in options}
            m = evaluate(best)
            trace.append({"pass": p, "field": name, "value": getattr(best, name), "bf": m["bf"], "iou": m["iou"],
                          "tried": tried})
            log(f"  pass {p} {name:26s} -> {getattr(best, name)!s:6s} BF {m['bf']:.4f} IoU {m['iou']:.4f}")
        if not changed:
            break
    return best, trace


def report(rows: dict[str, dict[str, dict[str, float]]], start: RefineSettings, best: RefineSettings,
           trace: list[dict], n: dict[str, int], elapsed: float, min_iou: float, max_drop: float,
           min_gain: float, frozen: frozenset[str] = frozenset(), model: str = DEFAULT_MODEL) -> str:
    """tuning.md: before/after by split, the settings that changed, the search trace."""
    lines = [
        "# Tuning the refinement defaults",
        "",
        f"Coordinate search (`python -m bench.tune --model {model}`, {elapsed / 60:.1f} min) on `{model}`'s network "
        f"outputs for the {n['tune']} even-indexed photos; {n['holdout']} odd-indexed photos held out. Objective: "
        f"mean boundary F (3 px), subject to a mean IoU of at least the raw mask's on the tuning photos ({min_iou:.4f}) and no tuning photo losing "
        f"more than {max_drop} IoU to refinement; a value changes only for a BF gain above {min_gain}."
        + (f" Frozen at their start values: {', '.join(sorted(frozen))}." if frozen else ""),
        "",
        "| config | tune IoU | tune BF | tune MAE | held-out IoU | held-out BF | held-out MAE | all IoU | all BF | all MAE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, by_split in rows.items():
        cells = [f"{by_split[sp][k]:.4f}" for sp in ("tune", "holdout", "all") for k in ("iou", "bf", "mae")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| setting | seed | search start | best |", "| --- | ---: | ---: | ---: |"]
    seed = seed_settings().to_dict()
    for k, v in best.to_dict().items():
        lines.append(f"| `{k}` | {seed[k]} | {getattr(start, k)} | {v} |")
    lines += ["", "## Search trace", "", "BF on the tuning photos for every value tried (x: infeasible, IoU constraint).", "",
              "| pass | field | kept | BF | IoU | tried (value: BF) |", "| ---: | --- | ---: | ---: | ---: | --- |"]
    for t in trace:
        tried = ", ".join(f"{v}: {'x' if b is None else f'{b:.4f}'}" for v, b in t["tried"].items())
        lines.append(f"| {t['pass']} | `{t['field']}` | {t['value']} | {t['bf']:.4f} | {t['iou']:.4f} | {tried} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__.split("\n\n")[0])
    add_data_options(parser)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(REGISTRY),
                        help=f"whose network outputs to refine (default {DEFAULT_MODEL})")
    parser.add_argument("--start", default="defaults", metavar="{defaults,seed,FILE.json}",
                        help="start from the model's refinement, the seed's, or the 'best' of an earlier tuning.json")
    parser.add_argument("--freeze", action="append", default=[], metavar="FIELD",
                        help="keep FIELD at its start value (a step switch freezes its whole step); repeatable")
    parser.add_argument("--passes", type=int, default=4, help="at most this many passes over the fields")
    parser.add_argument("--min-gain", type=float, default=5e-4,
                        help="smallest mean BF gain that changes a value (default 5e-4: below that is noise)")
    parser.add_argument("--max-drop", type=float, default=0.005,
                        help="largest IoU loss to refinement allowed on any single tuning photo (default 0.005)")
    add_output_options(parser, cache=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Load cached network outputs, search on the tuning half, report on both halves."""
    args = build_parser().parse_args(argv)
    searched_fields()  # GRID names only fields of core.refine.STEPS
    unknown = sorted(set(args.freeze) - set(STEP_OF))
    if unknown:
        raise SystemExit(f"--freeze: no such setting {', '.join(unknown)}; choose from {', '.join(STEP_OF)}")
    started = time.perf_counter()
    stems = list_stems(args.data, args.limit)
    predictions = model_predictions(args.data, stems, args.model, cache=args.cache)
    samples = [load_sample(args.data, s) for s in stems]
    raws = [resize_prediction(p, s.rgb.shape[:2]) for p, s in zip(predictions, samples)]
    truths = [GroundTruth.from_mask(s.mask) for s in samples]
    halves = {sp: [i for i in range(len(stems)) if split_of(i) == sp] for sp in ("tune", "holdout")}
    scorers = {sp: StagedScorer([raws[i] for i in idx], [truths[i] for i in idx], [samples[i].rgb for i in idx])
               for sp, idx in halves.items()}
    if args.start in ("defaults", "seed"):
        start = seed_settings() if args.start == "seed" else RefineSettings.for_model(REGISTRY[args.model])
    else:
        start = RefineSettings.from_dict(json.loads(Path(args.start).read_text())["best"])
    check = scorers["tune"].alphas(start)[0]
    first = halves["tune"][0]
    if not np.array_equal(check, refine(raws[first], start, samples[first].rgb)):
        raise SystemExit("the staged replay differs from core.refine.refine: update bench/tune.py")
    tune = scorers["tune"]
    all_off = dataclasses.replace(start, **{step.name: False for step in STEPS})
    raw = tune(all_off)
    min_iou = raw["iou"]
    print(f"{len(halves['tune'])} tuning photos; raw IoU {min_iou:.4f}, BF {tune(all_off)['bf']:.4f}; "
          f"start BF {tune(start)['bf']:.4f}")
    best, trace = coordinate_search(tune, start, raw, max_drop=args.max_drop, min_gain=args.min_gain,
                                    max_passes=args.passes, frozen=frozenset(args.freeze))
    configs = {"raw": all_off, "seed": seed_settings(), "start": start, "best": best}
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for name, s in configs.items():
        by_split = {sp: {k: scorers[sp](s)[k] for k in ("iou", "bf", "mae")} for sp in halves}
        w = {sp: len(idx) for sp, idx in halves.items()}
        by_split["all"] = {k: sum(by_split[sp][k] * w[sp] for sp in halves) / len(stems) for k in ("iou", "bf", "mae")}
        rows[name] = by_split
    elapsed = time.perf_counter() - started
    n = {sp: len(idx) for sp, idx in halves.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(rows, start, best, trace, n, elapsed, min_iou, args.max_drop, args.min_gain, frozenset(args.freeze),
                  args.model)
    (args.out / "tuning.md").write_text(text)
    (args.out / "tuning.json").write_text(json.dumps(
        {"best": best.to_dict(), "start": start.to_dict(), "scores": rows, "trace": trace}, indent=1))
    print(text.split("## Search trace")[0])
    print("changed vs start:", ", ".join(f"{k}: {a} -> {b}" for k, a, b in settings_diff(start, best)) or "nothing")
    print(f"wrote {shown(args.out / 'tuning.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
