"""The benchmarks still run: bench.quality, bench.tune, bench.speed and bench.idphoto end to end on two photos each, and
the bench conventions they rely on (fast): refinement replayed from core.refine.STEPS exactly, no list of step
names of their own, no private imports, the shared data paths.

Every run writes into a temporary folder (--out, and --cache for the network outputs), never into
bench/results. The dev sets and photos are read in place from ../shared; without them the runs skip.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import common, quality, tune
from core.refine import STEP_NAMES, STEPS, RefineSettings, refine, step_fields
from core.weights import DEFAULT_MODEL, REGISTRY

BENCH = Path(__file__).resolve().parent.parent / "bench"
#: Where the data is, as the README says: ../shared beside the checkout, read in place.
SHARED_DATA = BENCH.parent.parent / "shared" / "data"
PORTRAIT, SALIENT = REGISTRY[DEFAULT_MODEL].members
#: Longest a benchmark may take here before the smoke test gives up (they take about a minute each).
RUN_TIMEOUT_S = 1800


# ------------------------------------------------------------------------------------ conventions


def _sources() -> dict[str, ast.Module]:
    return {path.name: ast.parse(path.read_text(), str(path)) for path in sorted(BENCH.glob("*.py"))}


def test_bench_finds_the_shared_data_beside_the_checkout():
    assert common.DEFAULT_DATA == SHARED_DATA / "dev" / "eg1800_train_subset"
    assert common.DEV_SETS == (common.DEFAULT_DATA, SHARED_DATA / "dev" / "people_in_scenes_removebg")
    assert common.PHOTOS == SHARED_DATA / "photos"
    assert common.RESULTS == BENCH / "results" and common.CACHE_DIR == common.RESULTS / "cache"


def test_a_rerun_keeps_the_results_files_notes(tmp_path):
    from bench.common import write_keeping_notes

    out = tmp_path / "r.md"
    write_keeping_notes(out, ["# T", "", "| a | 1 |"])
    assert out.read_text() == "# T\n\n| a | 1 |\n"
    out.write_text(out.read_text() + "\nthis run only\n\n## Why\n\nreasons\n")
    write_keeping_notes(out, ["# T", "", "| a | 2 |"])
    assert out.read_text() == "# T\n\n| a | 2 |\n\n## Why\n\nreasons\n"


def test_no_bench_module_imports_another_modules_private_names():
    offences = []
    for name, tree in _sources().items():
        modules = set()  # names bound to project modules: `from bench import quality`, `import core.refine as r`
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                offences += [f"{name}: from {node.module} import {a.name}" for a in node.names
                             if a.name.startswith("_")]
                if node.module in ("bench", "core"):
                    modules.update(a.asname or a.name for a in node.names)
            elif isinstance(node, ast.Import):
                modules.update(a.asname or a.name.split(".")[0] for a in node.names
                               if a.name.split(".")[0] in ("bench", "core"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                offences.append(f"{name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offences, offences


def test_no_bench_module_lists_the_refinement_steps_itself():
    """Step names and order come from core.refine.STEPS; a tuple, list or set naming two or more steps is a copy."""
    steps = set(STEP_NAMES)
    copies = []
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                named = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in steps]
                if len(named) >= 2:
                    copies.append(f"{name}:{node.lineno}: {named}")
    assert not copies, copies


# ----------------------------------------------------------------------------- bench.tune's replay


def _synthetic(seed: int, shape: tuple[int, int] = (72, 96)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A soft blob with a speck and a hole as the network output, a photo with an edge near it, the true mask."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot((yy - h / 2) / (h / 3), (xx - w / 2) / (w / 4))
    raw = np.clip(1.5 - d, 0, 1).astype(np.float32)
    raw[3:6, 3:6] = 0.9  # a speck: main_subject and opening remove it
    raw[h // 2, w // 2] = 0.2  # a hole: closing fills it
    raw = np.clip(raw + rng.normal(0, 0.03, shape).astype(np.float32), 0, 1)
    photo = np.where((d < 1.0)[..., None], [200, 150, 120], [40, 90, 60]).astype(np.int16)
    photo = np.clip(photo + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)
    return raw, photo, d < 1.0


def _every_step_on() -> RefineSettings:
    """Every step on, with sizes that change something on a photo of under 100 px."""
    on = {step.name: True for step in STEPS}
    return dataclasses.replace(RefineSettings(), **on, opening_size_pct=4.0, closing_size_pct=5.0, feather_sigma_pct=1.0)


def test_the_staged_replay_equals_core_refine_exactly():
    from bench.metrics import GroundTruth

    pairs = [_synthetic(1), _synthetic(2, (80, 60))]
    raws, photos = [r for r, _, _ in pairs], [p for _, p, _ in pairs]
    truths = [GroundTruth.from_mask(m) for _, _, m in pairs]
    scorer = tune.StagedScorer(raws, truths, photos)
    bare = tune.StagedScorer(raws, truths, [None, None])  # without the photo, the steps that need it are skipped
    every = _every_step_on()
    sequence = [  # each settings after the previous one: later, then earlier, steps change, reusing stages
        RefineSettings(), every, dataclasses.replace(every, feather_sigma_pct=0.5),
        dataclasses.replace(every, bilateral_sigma_color=0.2), dataclasses.replace(every, matting_band_pct=2.0),
        dataclasses.replace(every, edge_aware=False), RefineSettings.for_model(REGISTRY[SALIENT]),
        dataclasses.replace(RefineSettings(), **{step.name: False for step in STEPS}), every,
    ]
    for settings in sequence:
        for raw, photo, got in zip(raws, photos, scorer.alphas(settings)):
            np.testing.assert_array_equal(got, refine(raw, settings, photo), err_msg=str(settings))
        for raw, got in zip(raws, bare.alphas(settings)):
            np.testing.assert_array_equal(got, refine(raw, settings), err_msg=str(settings))
    assert scorer(every)["iou"] > 0.5


def test_a_step_is_its_table_entry_or_the_identity():
    raw, photo, _ = _synthetic(3)
    every = _every_step_on()
    for step in STEPS:
        np.testing.assert_array_equal(tune.apply_step(step, raw, every, photo), step.run(raw, every, photo))
        assert tune.apply_step(step, raw, dataclasses.replace(every, **{step.name: False}), photo) is raw
        assert tune.step_key(every, step) == tuple(getattr(every, f) for f in step_fields(step))
        if step.needs_photo:
            assert tune.apply_step(step, raw, every, None) is raw


def test_the_search_covers_the_grid_fields_in_the_table_order_and_skips_steps_without_values():
    fields = tune.searched_fields()
    assert set(fields) == set(tune.GRID) | {step.name for step in STEPS if step.name != "matting"}
    order = [f for step in STEPS for f in step_fields(step)]
    assert fields == sorted(fields, key=order.index)
    assert not set(step_fields("matting")) & set(fields)  # no grid for matting: it keeps its start values
    start = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    for option in tune.candidates(dataclasses.replace(start, opening=False), "opening_size_pct"):
        assert option.opening  # trying a step's size switches the step on


# ------------------------------------------------------------------------------------ smoke runs


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=common.ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"python -m {module} {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One network-output cache for the module: bench.quality fills it, bench.tune reads it."""
    return tmp_path_factory.mktemp("bench_cache")


@pytest.fixture(scope="module")
def quality_run(tmp_path_factory, cache) -> Path:
    """`python -m bench.quality --limit 2` (both dev sets, rembg where it is installed) into a temporary folder."""
    missing = [str(d) for d in common.DEV_SETS if not (d / "images").is_dir()]
    if missing:
        pytest.skip(f"dev sets not found: {', '.join(missing)} (they live in ../shared beside the checkout)")
    out = tmp_path_factory.mktemp("quality")
    _run("bench.quality", "--limit", "2", "--out", str(out), "--cache", str(cache))
    return out


@pytest.mark.slow
def test_quality_writes_a_table_per_set_headed_by_the_default_model(quality_run):
    report = (quality_run / "quality.md").read_text()
    ran_rembg = "rembg: " in report and ", ran." in report
    assert ran_rembg or "skipped: rembg is not importable" in report, report[:2000]
    for data in common.DEV_SETS:
        section = report.split(f"## {data.name}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
        assert rows[1].startswith(f"| **{DEFAULT_MODEL}**"), rows[:2]  # after the header row
        with open(quality_run / f"quality_{data.name}.csv", newline="") as handle:
            by_config: dict[str, list[dict]] = {}
            for row in csv.DictReader(handle):
                by_config.setdefault(row["config"], []).append(row)
        auto = by_config[DEFAULT_MODEL]
        assert len(auto) == 2
        assert all(r["chosen"] in (PORTRAIT, SALIENT) and math.isfinite(float(r["iou"])) for r in auto)
        assert all(r["disagreement"] for r in auto)
        for step in STEP_NAMES:  # one ablation per step of the core table
            assert len([c for c in by_config if c in (f"{DEFAULT_MODEL}-{step}", f"{DEFAULT_MODEL}+{step}")]) == 1
        assert len(by_config.get("rembg_plain", [])) == (2 if ran_rembg else 0)


@pytest.mark.slow
def test_the_cached_default_model_is_what_the_app_computes(quality_run, cache, default_segmenter):
    for data in common.DEV_SETS:
        stem = common.list_stems(data, 1)
        cached = quality.model_predictions(data, stem, cache=cache, log=lambda _: None)[0]
        np.testing.assert_allclose(cached, default_segmenter.predict(common.load_sample(data, stem[0]).rgb), atol=1e-5)


@pytest.mark.slow
def test_tune_searches_two_photos_and_writes_its_report(tmp_path, cache):
    if not (common.DEFAULT_DATA / "images").is_dir():
        pytest.skip(f"dev set not found at {common.DEFAULT_DATA} (it lives in ../shared beside the checkout)")
    done = _run("bench.tune", "--limit", "2", "--out", str(tmp_path), "--cache", str(cache))
    assert "changed vs start:" in done.stdout
    result = json.loads((tmp_path / "tuning.json").read_text())
    start = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    assert RefineSettings.from_dict(result["start"]) == start
    best = RefineSettings.from_dict(result["best"])
    assert {f: getattr(best, f) for f in step_fields("matting")} == {f: getattr(start, f) for f in step_fields("matting")}
    assert [t["field"] for t in result["trace"]][: len(tune.searched_fields())] == tune.searched_fields()
    assert set(result["scores"]) == {"raw", "seed", "start", "best"}
    report = (tmp_path / "tuning.md").read_text()
    assert report.startswith("# Tuning the refinement defaults") and "1 even-indexed photos" in report


@pytest.mark.slow
def test_speed_runs_every_part_once(tmp_path):
    if not any(common.PHOTOS.glob("*.jpg")):
        pytest.skip(f"photos not found at {common.PHOTOS} (they live in ../shared beside the checkout)")
    out = tmp_path / "speed.md"
    _run("bench.speed", "--quick", "--repeats", "1", "--out", str(out))
    report, raw = out.read_text(), json.loads(out.with_suffix(".json").read_text())
    assert "## Errors" not in report, report.split("## Errors", 1)[1][:2000]
    for heading in ("## Targets", "## Stages per photo size", f"## The default model (`{DEFAULT_MODEL}`)",
                    "## Inference settings", "## Where the time goes", "## Live tuning", "## Memory per stage"):
        assert heading in report, heading
    assert list(raw["stages"]) == ["0.5 MP", "2 MP"]
    stages = ["decode", "preprocess", "inference", "resize", "refine", "composite", "encode"]
    if "unavailable" not in raw["memory"]:  # (where VmHWM cannot be reset, the part says so instead)
        assert [row["stage"] for row in raw["memory"]["rows"]] == stages  # the MemoryTimer given to process()
        assert all(row["peak"] > 0 and row["rss_after"] > 0 for row in raw["memory"]["rows"])
    assert any(row.get("exact") for row in raw["breakdown"]["rows"])  # the parallel Lanczos resize, bit-identical
    assert "proposals" not in raw["breakdown"]


def test_idphoto_counts_two_photos_of_each_set(tmp_path):
    if not all((data / "images").is_dir() for data in common.DEV_SETS):
        pytest.skip(f"dev sets not found under {common.DEV_ROOT} (they live in ../shared beside the checkout)")
    done = _run("bench.idphoto", "--limit", "2", "--out", str(tmp_path))
    assert "wrote" in done.stdout
    with open(tmp_path / "idphoto.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["set"] for row in rows] == [data.name for data in common.DEV_SETS for _ in range(2)]
    assert all(row["outcome"] for row in rows)
    assert (tmp_path / "idphoto.md").read_text().startswith("# ID photos on the dev sets")


def test_runtime_parity_compares_two_photos_of_each_set(tmp_path):
    if not all((data / "images").is_dir() for data in common.DEV_SETS):
        pytest.skip(f"dev sets not found under {common.DEV_ROOT} (they live in ../shared beside the checkout)")
    _run("bench.runtime_parity", "--limit", "2", "--out", str(tmp_path))
    rows = [line for line in (tmp_path / "runtime-parity.md").read_text().splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows[1:]] == [data.name for data in common.DEV_SETS]
    assert all(row.split(" | ")[1] == "2" for row in rows[1:])
