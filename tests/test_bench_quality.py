"""bench.quality: the configurations it scores and the combination's rules on made-up views (its smoke run, on
two photos per dev set, is in tests/test_bench_smoke.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench import quality
from bench.common import Sample
from core.refine import STEP_NAMES, RefineSettings
from core.segmentation import InferenceSettings
from core.weights import DEFAULT_MODEL, REGISTRY

PORTRAIT, SALIENT = REGISTRY[DEFAULT_MODEL].members


def test_every_configuration_of_the_brief_is_scored_once():
    names = [c.name for c in quality.configs([PORTRAIT, SALIENT])]
    assert names[:2] == [DEFAULT_MODEL, f"{DEFAULT_MODEL}_raw"]
    assert len(names) == len(set(names))
    refine = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    ablations = {f"{DEFAULT_MODEL}{'-' if getattr(refine, step) else '+'}{step}" for step in STEP_NAMES}
    expected = {
        PORTRAIT, f"{PORTRAIT}_raw", f"{PORTRAIT}_noflip", f"{PORTRAIT}_noflip_raw", f"{PORTRAIT}_pad_raw",
        SALIENT, f"{SALIENT}_raw", f"{SALIENT}_unpadded_raw",
        *(f"{DEFAULT_MODEL}_max{t:g}" for t in (0.05, 0.08, 0.1, 0.12, 0.14, 0.18, 0.2)), f"{DEFAULT_MODEL}_before",
        f"{DEFAULT_MODEL}_coverage60", f"{DEFAULT_MODEL}_{SALIENT}_refine", f"{DEFAULT_MODEL}_chosen_refine",
        f"{DEFAULT_MODEL}_matting_band1.5", *ablations,
        *(f"{DEFAULT_MODEL}_{PORTRAIT}{size}" for size in quality.other_portrait_sizes()),
        *(f"{DEFAULT_MODEL}_mirror{size}" for size in quality.other_mirror_sizes()),
    }
    assert expected <= set(names)


def test_networks_run_with_their_registry_input_and_the_two_variants():
    runs = {run.key: run for run in quality.network_runs([PORTRAIT, SALIENT])}
    assert runs[PORTRAIT].settings == InferenceSettings.for_model(REGISTRY[PORTRAIT])
    assert runs[f"{PORTRAIT}@pad"].settings.pad
    assert runs[f"{SALIENT}@unpadded"].settings == quality.REMBG_INPUT
    own = runs[PORTRAIT].settings.size
    assert own in quality.PORTRAIT_SIZES and own not in quality.other_portrait_sizes()
    for size in quality.other_portrait_sizes():  # the portrait network at the other sizes, nothing else changed
        assert runs[f"{PORTRAIT}@{size}"].settings == dataclasses.replace(runs[PORTRAIT].settings, input_size=size)
    mirror = runs[PORTRAIT].settings.mirror_side
    assert mirror in quality.MIRROR_SIZES and mirror not in quality.other_mirror_sizes()
    for size in quality.other_mirror_sizes():  # ... and its mirrored pass at the other sizes
        assert runs[f"{PORTRAIT}@mirror{size}"].settings == dataclasses.replace(runs[PORTRAIT].settings, mirror_size=size)
    before = runs[f"{PORTRAIT}@before"].settings  # the one-scale rule it replaced: both views at 416 px
    assert before.size == before.mirror_side == quality.BEFORE_SIZE == 416
    assert len({run.tag() for run in runs.values()}) == len(runs)  # distinct cache keys


class _Network:
    """Stands in for quality.Network: a run, and views joined by the pixelwise maximum."""

    def __init__(self, model: str) -> None:
        self.run = quality.Run(model, model, InferenceSettings.for_model(REGISTRY[model]))

    def join(self, output: quality.NetOutput) -> np.ndarray:
        return np.maximum.reduce(output.views)


def _box(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    out = np.zeros((100, 100), np.float32)
    out[top:bottom, left:right] = 1.0
    return out


def _photo() -> quality.Photo:
    """The portrait network's views disagree on 960 of 5920 subject pixels (16 %); its subject (the larger
    view, 6400 px) covers 64 % of the salient network's (the whole 100×100 frame)."""
    sample = Sample("x", np.zeros((100, 100, 3), np.uint8), np.zeros((100, 100), bool))
    nets = {
        PORTRAIT: quality.NetOutput([_box(10, 10, 90, 90), _box(10, 10, 90, 78)], 0.01, 2.0),
        SALIENT: quality.NetOutput([_box(0, 0, 100, 100)] * 2, 0.02, 1.0),
    }
    return quality.Photo(sample, nets, {name: _Network(name) for name in nets})


def test_the_rules_pick_and_time_as_the_combination_does():
    configs = {c.name: c for c in quality.configs([PORTRAIT, SALIENT])}
    photo = _photo()
    assert photo.share == pytest.approx(960 / 5920)
    shipped = configs[DEFAULT_MODEL].pick(photo)  # 16 % > MAX_DISAGREEMENT: the salient network, run too
    assert shipped.chosen == SALIENT and shipped.seconds == pytest.approx(0.01 + 2.0 + 0.02 + 1.0)
    assert shipped.disagreement == pytest.approx(960 / 5920)
    trusted = configs[f"{DEFAULT_MODEL}_max0.2"].pick(photo)  # the salient network is neither prepared nor run
    assert trusted.chosen == PORTRAIT and trusted.seconds == pytest.approx(0.01 + 2.0)
    covered = configs[f"{DEFAULT_MODEL}_coverage60"].pick(photo)  # 64 % ≥ 60 %; needs both networks
    assert covered.chosen == PORTRAIT and covered.seconds == pytest.approx(3.03)
    first = configs[f"{PORTRAIT}_noflip_raw"].pick(photo)
    assert first.seconds == pytest.approx(0.01 + 1.0) and np.array_equal(first.prediction, _box(10, 10, 90, 90))
    chosen = configs[f"{DEFAULT_MODEL}_chosen_refine"]
    assert chosen.settings(shipped) == RefineSettings.for_model(REGISTRY[SALIENT])


def test_the_combination_at_another_portrait_size_reads_that_runs_views():
    photo = _photo()
    run = f"{PORTRAIT}@{quality.other_portrait_sizes()[0]}"
    agree = [_box(10, 10, 90, 90)] * 2  # at this size the portrait network's views agree: it is trusted
    photo.nets[run] = quality.NetOutput(agree, 0.01, 1.5)
    photo.networks[run] = _Network(PORTRAIT)
    picked = photo.portrait_at(run)
    assert picked.chosen == PORTRAIT and picked.source == run and picked.disagreement == 0.0
    assert picked.seconds == pytest.approx(0.01 + 1.5) and np.array_equal(picked.prediction, agree[0])
    assert photo.shipped().chosen == SALIENT  # the registry size's views still disagree (16 %)


def test_the_rule_before_reads_its_own_run_and_its_own_limit():
    photo = _photo()
    run = f"{PORTRAIT}@before"
    views = [_box(0, 0, 100, 100), _box(0, 0, 100, 89)]  # disagree on 1100 of 9450 subject px: 11.6 %
    photo.nets[run] = quality.NetOutput(views, 0.01, 1.5)
    photo.networks[run] = _Network(PORTRAIT)
    before = {c.name: c for c in quality.configs([PORTRAIT, SALIENT])}[f"{DEFAULT_MODEL}_before"].pick(photo)
    assert before.chosen == SALIENT and before.disagreement == pytest.approx(1100 / 9450)  # over its 10 %
    assert photo.portrait_at(run).chosen == PORTRAIT  # within the shipped limit (16 %)


def test_the_ablations_switch_each_step_of_the_core_table_once():
    refine = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    ablations = [c for c in quality.configs([PORTRAIT, SALIENT])
                 if c.name.startswith(DEFAULT_MODEL) and c.name[len(DEFAULT_MODEL):][:1] in ("+", "-")]
    assert [c.name[len(DEFAULT_MODEL) + 1:] for c in ablations] == list(STEP_NAMES)
    for config, step in zip(ablations, STEP_NAMES):
        assert quality.settings_diff(refine, config.refine) == [(step, getattr(refine, step), not getattr(refine, step))]


def test_the_seed_preset_names_only_refine_settings_and_leaves_later_steps_off():
    fields = {f.name for f in dataclasses.fields(RefineSettings)}
    assert set(quality.SEED_SETTINGS) <= fields
    seed = quality.seed_settings()
    seed.check()
    assert {k: getattr(seed, k) for k in quality.SEED_SETTINGS} == quality.SEED_SETTINGS
    assert [step for step in STEP_NAMES if step not in quality.SEED_SETTINGS] == ["matting"]
    assert seed.matting is False
