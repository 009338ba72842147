"""Validate the "needs a look" score (core.triage) on both dev sets: does it find the bad cuts?

    python -m bench.triage                 # both dev sets, network outputs from bench.quality's cache
    python -m bench.triage --limit 20      # a quick look

Per photo: the default model's network output and its mirrored-view disagreement (from bench.quality's cache,
computing what is missing), refined as the product refines it; IoU against the dev set's mask; the score.
Reports, per set: the Spearman correlation between the score and 1 − IoU (target ≥ 0.5), and how many of the
photos with IoU under 0.85 are among the 10 % with the highest scores (target: at least half; where a set has
more such photos than the 10 % holds, the most it can hold is given beside it). Also the Spearman of each
ingredient alone and of others that were tried. Writes bench/results/triage.md and triage.csv.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from bench.common import add_data_options, add_output_options, list_stems, loadavg, shown
from bench.metrics import GroundTruth, score
from bench.quality import Photo, Run, load_networks, photo_outputs
from core.pipeline import alpha_from_prediction
from core.refine import RefineSettings
from core.segmentation import InferenceSettings
from core.triage import DISAGREEMENT_SCALE, UNCERTAIN_SCALE, needs_a_look, saturate, uncertain_share
from core.weights import DEFAULT_MODEL, REGISTRY

BAD_IOU = 0.85
TOP_SHARE = 0.10
SPEARMAN_TARGET = 0.5


@dataclass
class Scored:
    """One photo: its IoU under the default model, the score, and the ingredients (for the report)."""

    dataset: str
    stem: str
    chosen: str
    iou: float
    score: float
    ingredients: dict[str, float] = field(default_factory=dict)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank)."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def ingredients(prediction: np.ndarray, alpha: np.ndarray, share: float) -> dict[str, float]:
    """The score's two signs, saturated as core.triage uses them, and other candidates measured beside them."""
    subject = alpha >= 0.5
    h, w = alpha.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(subject.astype(np.uint8), connectivity=8)
    sizes = sorted(stats[1:, cv2.CC_STAT_AREA], reverse=True)
    outline = np.count_nonzero(cv2.morphologyEx(subject.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)))
    band = np.count_nonzero((alpha > 0.05) & (alpha < 0.95))
    return {
        "mirrored-view disagreement (saturated)": saturate(share, DISAGREEMENT_SCALE),
        "uncertain share of the network output (saturated)": saturate(uncertain_share(prediction), UNCERTAIN_SCALE),
        "pieces: area outside the largest piece": 0.0 if len(sizes) < 2 else float(sum(sizes[1:]) / sum(sizes)),
        "small subject: 1 − area / 5 % of the frame": float(1 - min(subject.mean() / 0.05, 1)),
        "cut by the frame: subject share of the border": float(np.concatenate(
            [subject[0], subject[-1], subject[:, 0], subject[:, -1]]).mean()),
        "refined band area / outline length": band / max(outline, 1),
    }


def score_set(data: Path, limit: int | None, cache: Path, log=print) -> list[Scored]:
    """Every photo of one dev set under the default model, scored."""
    names = list(REGISTRY[DEFAULT_MODEL].members)
    networks, skipped = load_networks([Run(n, n, InferenceSettings.for_model(REGISTRY[n])) for n in names], log)
    if skipped:
        raise SystemExit(f"cannot load {', '.join(skipped)}")
    by_key = {n.run.key: n for n in networks}
    settings = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    out = []
    for outputs in photo_outputs(data, list_stems(data, limit), networks, cache=cache, log=log):
        photo = Photo(outputs.sample, outputs.nets, by_key)
        pick = photo.shipped()
        rgb = outputs.sample.rgb
        _, alpha = alpha_from_prediction(pick.prediction, rgb.shape[:2], settings, image=rgb)
        iou = score(alpha, GroundTruth.from_mask(outputs.sample.mask))["iou"]
        share = photo.share  # the portrait network's, as core.pipeline.network_output reports for the combination
        out.append(Scored(data.name, outputs.sample.stem, pick.chosen, iou, needs_a_look(pick.prediction, share),
                          ingredients(pick.prediction, alpha, share)))
    return out


def summary(rows: list[Scored]) -> dict[str, float]:
    """Spearman(score, 1 − IoU); the bad cuts (IoU < BAD_IOU) among the TOP_SHARE highest scores."""
    scores = np.array([r.score for r in rows])
    badness = np.array([1 - r.iou for r in rows])
    k = max(1, round(TOP_SHARE * len(rows)))
    top = np.argsort(-scores, kind="stable")[:k]
    bad = badness > 1 - BAD_IOU
    caught = int(np.count_nonzero(bad[top]))
    return {"photos": len(rows), "spearman": spearman(scores, badness), "bad": int(bad.sum()), "top": k,
            "caught": caught, "most": min(k, int(bad.sum())), "median_score": float(np.median(scores))}


def markdown(sets: dict[str, list[Scored]], command: str, seconds: float) -> str:
    out = ["# Needs a look: does the score find the bad cuts?", "",
           f"`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.1f} min, load average "
           f"{loadavg()}. Default model `{DEFAULT_MODEL}` with its refinement; IoU against each set's masks; the score "
           f"is `core.triage.needs_a_look`.", "",
           f"| set | photos | Spearman(score, 1 − IoU) (target ≥ {SPEARMAN_TARGET}) | photos with IoU < {BAD_IOU} | "
           f"of them in the top {TOP_SHARE:.0%} by score (target: at least half) | median score |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, rows in sets.items():
        s = summary(rows)
        held = f"{s['caught']} of {s['bad']} (top {TOP_SHARE:.0%} = {s['top']} photos" + (
            f"; it can hold at most {s['most']}, so at most {s['most'] / max(s['bad'], 1):.0%} is possible)" if s["most"] < s["bad"] else ")")
        out.append(f"| {name} | {s['photos']} | {s['spearman']:.3f} | {s['bad']} | {held} | {s['median_score']:.2f} |")
    out += ["", "## Each ingredient alone (Spearman with 1 − IoU)", "",
            "| ingredient | " + " | ".join(sets) + " |", "| --- |" + " ---: |" * len(sets)]
    names = next(iter(sets.values()))[0].ingredients if sets and next(iter(sets.values())) else {}
    for ingredient in names:
        cells = [f"{spearman(np.array([r.ingredients[ingredient] for r in rows]), np.array([1 - r.iou for r in rows])):.3f}"
                 for rows in sets.values()]
        out.append(f"| {ingredient} | " + " | ".join(cells) + " |")
    out += ["", "The score is the geometric mean of the first two (each saturated as x / (x + scale), scales "
            f"{DISAGREEMENT_SCALE} and {UNCERTAIN_SCALE}); the others were tried and are shown for comparison "
            "(nan: constant on that set).", ""]
    for name, rows in sets.items():
        worst = sorted(rows, key=lambda r: -r.score)[:10]
        out += [f"## {name}: the ten highest scores", "", "| photo | score | IoU | network kept |", "| --- | ---: | ---: | --- |"]
        out += [f"| {r.stem} | {r.score:.2f} | {r.iou:.3f} | {r.chosen} |" for r in worst]
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.triage", description=__doc__.split("\n\n")[0])
    add_data_options(parser, several=True)
    add_output_options(parser, cache=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sets = {Path(data).name: score_set(Path(data), args.limit, args.cache) for data in args.data}
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.triage" + (f" --limit {args.limit}" if args.limit else "")
    (args.out / "triage.md").write_text(markdown(sets, command, time.perf_counter() - started), encoding="utf-8")
    with open(args.out / "triage.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["set", "photo", "network kept", "iou", "score"])
        for rows in sets.values():
            writer.writerows([r.dataset, r.stem, r.chosen, f"{r.iou:.4f}", f"{r.score:.4f}"] for r in rows)
    for name, rows in sets.items():
        s = summary(rows)
        print(f"{name}: Spearman {s['spearman']:.3f}, {s['caught']} of {s['bad']} bad cuts in the top {s['top']}")
    print(f"written {shown(args.out / 'triage.md')} and {shown(args.out / 'triage.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
