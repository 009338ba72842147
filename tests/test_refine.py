"""Unit tests for core.refine: hand-computed expectations on tiny arrays."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from core.errors import SettingsError
from core.weights import REGISTRY
from core.settings import FieldSpec
from core.refine import (
    keep_main_subject,
    snap_to_edges,
    RefineSettings,
    apply_levels,
    bilateral_filter,
    disk_kernel,
    feather,
    kernel_size,
    morph_close,
    morph_open,
    STEPS,
    FULL_RESOLUTION_STEPS,
    WORKING_STEPS,
    RefineStep,
    refine,
    step_fields,
)

ALL_OFF = dict(bilateral=False, levels=False, opening=False, closing=False, main_subject=False, feather=False)


# ------------------------------------------------------------------------------------ helpers


def test_kernel_size_is_nearest_odd():
    assert kernel_size(0.5, (600, 800)) == 5  # 4 px: tie between 3 and 5 goes up
    assert kernel_size(0.5, (6000, 8000)) == 41  # 40 px
    assert kernel_size(0.375, (600, 800)) == 3  # 3 px
    assert kernel_size(0.6, (600, 800)) == 5  # 4.8 px
    assert kernel_size(0.74, (600, 800)) == 5  # 5.92 px: 5 is nearer than 7
    assert kernel_size(0.1, (100, 100)) == 1  # 0.1 px -> no-op
    assert kernel_size(0.0, (100, 100)) == 1


def test_disk_kernel_is_round():
    assert disk_kernel(1).tolist() == [[1]]
    assert disk_kernel(3).tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    assert disk_kernel(5).tolist() == [
        [0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [0, 1, 1, 1, 0],
    ]


# ---------------------------------------------------------------------------------------- levels


def test_levels_hand_computed():
    a = np.array([[0.0, 0.1, 0.5, 0.9, 1.0]], dtype=np.float32)
    out = apply_levels(a, 0.1, 0.9)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-6)


def test_levels_quarter_points():
    a = np.array([[0.2, 0.3, 0.4]], dtype=np.float32)
    np.testing.assert_allclose(apply_levels(a, 0.2, 0.6), [[0.0, 0.25, 0.5]], atol=1e-6)


def test_levels_rejects_black_not_below_white():
    a = np.zeros((2, 2), np.float32)
    with pytest.raises(SettingsError, match="black_point"):
        apply_levels(a, 0.5, 0.5)
    with pytest.raises(SettingsError, match="black_point"):
        apply_levels(a, 0.7, 0.3)


def test_levels_accepts_float64_and_does_not_modify_input():
    a = np.array([[0.0, 0.5, 1.0]], dtype=np.float64)
    before = a.copy()
    out = apply_levels(a, 0.25, 0.75)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(a, before)


# ------------------------------------------------------------------------------------ morphology


def test_opening_removes_isolated_pixel():
    a = np.zeros((7, 7), np.float32)
    a[3, 3] = 1.0
    np.testing.assert_array_equal(morph_open(a, 3), np.zeros((7, 7), np.float32))


def test_opening_keeps_3x3_block_exactly():
    a = np.zeros((7, 7), np.float32)
    a[2:5, 2:5] = 1.0
    np.testing.assert_array_equal(morph_open(a, 3), a)


def test_opening_does_not_erode_subject_at_frame_border():
    a = np.zeros((7, 7), np.float32)
    a[:, :3] = 1.0  # subject touching the left edge, 3 px wide
    np.testing.assert_array_equal(morph_open(a, 3), a)


def test_closing_fills_one_pixel_hole():
    a = np.ones((7, 7), np.float32)
    a[3, 3] = 0.0
    np.testing.assert_array_equal(morph_close(a, 3), np.ones((7, 7), np.float32))


def test_closing_fills_hole_next_to_border():
    a = np.ones((7, 7), np.float32)
    a[0, 3] = 0.0  # notch on the frame edge; replicate border must not keep it open
    np.testing.assert_array_equal(morph_close(a, 3), np.ones((7, 7), np.float32))


def test_morphology_size_one_is_identity():
    a = np.zeros((5, 5), np.float32)
    a[2, 2] = 1.0
    np.testing.assert_array_equal(morph_open(a, 1), a)
    np.testing.assert_array_equal(morph_close(a, 1), a)


def test_morphology_rejects_bad_size():
    a = np.zeros((5, 5), np.float32)
    with pytest.raises(SettingsError):
        morph_open(a, 0)
    with pytest.raises(SettingsError):
        morph_close(a, 2.5)


# --------------------------------------------------------------------------------------- feather


def test_feather_constant_is_constant():
    a = np.full((9, 11), 0.25, np.float32)
    np.testing.assert_allclose(feather(a, 2.0), a, atol=1e-6)


def test_feather_impulse_sums_to_one_and_is_symmetric():
    a = np.zeros((21, 21), np.float32)
    a[10, 10] = 1.0  # interior: 4 sigma (6 px) from every border
    out = feather(a, 1.5)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(out, out[::-1, :], atol=1e-7)
    np.testing.assert_allclose(out, out[:, ::-1], atol=1e-7)
    np.testing.assert_allclose(out, out.T, atol=1e-7)
    assert out[10, 10] == out.max()


def test_feather_zero_sigma_is_identity():
    a = np.zeros((5, 5), np.float32)
    a[2, 2] = 1.0
    out = feather(a, 0.0)
    np.testing.assert_array_equal(out, a)
    assert out is not a


# ------------------------------------------------------------------------------------- bilateral


def test_bilateral_keeps_constant():
    a = np.full((9, 9), 0.37, np.float32)
    np.testing.assert_allclose(bilateral_filter(a, 1.0, 0.1), a, atol=1e-6)


def test_bilateral_keeps_step_edge_exactly():
    a = np.zeros((9, 9), np.float32)
    a[:, 4:] = 1.0
    np.testing.assert_array_equal(bilateral_filter(a, 1.0, 0.01), a)


def test_bilateral_smooths_small_noise():
    rng = np.random.default_rng(0)
    a = (0.5 + rng.uniform(-0.02, 0.02, (15, 15))).astype(np.float32)
    out = bilateral_filter(a, 1.5, 0.2)
    assert out.std() < a.std()


# ----------------------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 1), np.float32),
        np.full((4, 4), 1.5, np.float32),
        np.full((4, 4), np.nan, np.float32),
        [[0.0, 1.0]],
    ],
)
def test_steps_reject_bad_alpha(bad):
    with pytest.raises(SettingsError):
        feather(bad, 1.0)
    with pytest.raises(SettingsError):
        refine(bad, RefineSettings())


def test_uint8_alpha_error_says_how_to_convert():
    with pytest.raises(SettingsError, match="255"):
        apply_levels(np.zeros((3, 3), np.uint8), 0.1, 0.9)


# ---------------------------------------------------------------------------------------- refine


def test_all_steps_off_is_identity():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (13, 17)).astype(np.float32)
    out = refine(a, RefineSettings(**ALL_OFF))
    np.testing.assert_array_equal(out, a)
    assert out is not a


BIG_STEPS = dict(
    bilateral_sigma_space_pct=5.0,  # 2 px on 40x40
    opening_size_pct=5.0,  # 2 px -> 3x3
    closing_size_pct=5.0,  # 2 px -> 3x3
    feather_sigma_pct=2.0,  # 0.8 px
)


def _test_mask() -> np.ndarray:
    a = np.zeros((40, 40), np.float32)
    a[10:30, 10:30] = 0.95
    a[19, 19] = 0.05  # hole
    a[3, 3] = 0.8  # speck
    return a


@pytest.mark.parametrize("step", ["bilateral", "levels", "opening", "closing", "feather"])
def test_each_step_switchable(step):
    a = _test_mask()
    only = refine(a, RefineSettings(**{**ALL_OFF, **BIG_STEPS, step: True}))
    assert not np.array_equal(only, a), f"{step} alone should change this mask"
    expected = {
        "bilateral": lambda: bilateral_filter(a, 2.0, 0.1),
        "levels": lambda: apply_levels(a, 0.1, 0.9),
        "opening": lambda: morph_open(a, 3),
        "closing": lambda: morph_close(a, 3),
        "feather": lambda: feather(a, 0.8),
    }[step]()
    np.testing.assert_array_equal(only, expected)


def test_refine_runs_steps_in_documented_order():
    a = _test_mask()
    expected = feather(morph_close(morph_open(apply_levels(bilateral_filter(a, 2.0, 0.1), 0.1, 0.9), 3), 3), 0.8)
    np.testing.assert_array_equal(refine(a, RefineSettings(**BIG_STEPS)), expected)
    # feather is last: levels after feather would give a different (harder) edge
    other = apply_levels(feather(morph_close(morph_open(bilateral_filter(a, 2.0, 0.1), 3), 3), 0.8), 0.1, 0.9)
    assert not np.allclose(expected, other)


def test_refine_removes_speck_and_fills_hole():
    out = refine(_test_mask(), RefineSettings(**{**BIG_STEPS, "feather": False}))
    assert out[3, 3] == 0.0
    assert out[19, 19] == 1.0
    assert out[15, 15] == 1.0 and out[35, 35] == 0.0


def test_refine_does_not_modify_input():
    a = np.zeros((30, 30), np.float32)
    a[10:20, 10:20] = 1.0
    before = a.copy()
    out = refine(a, RefineSettings())
    np.testing.assert_array_equal(a, before)
    assert out.dtype == np.float32 and out.shape == a.shape
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_refine_is_scale_invariant():
    yy, xx = np.mgrid[0:100, 0:100]
    r = np.hypot(yy - 50, xx - 45)
    small = np.clip((32 - r) / 4, 0, 1).astype(np.float32)  # soft disc
    small[70:80, 20:24] = 1.0  # a limb
    small[45:48, 45:48] = 0.0  # a hole
    small[5, 90] = 0.7  # a speck
    big = cv2.resize(small, (1000, 1000), interpolation=cv2.INTER_NEAREST)
    s = RefineSettings()
    out_small = refine(small, s)
    out_big = refine(big, s)
    back = cv2.resize(out_big, (100, 100), interpolation=cv2.INTER_AREA)
    assert np.abs(back - out_small).mean() < 0.02


# -------------------------------------------------------------------------------------- settings


def test_defaults():
    s = RefineSettings()
    assert s.to_dict() == {  # the default model's (auto); U²-Net's own differ in two fields, below
        "edge_aware": False,
        "edge_radius_pct": 2.0,
        "edge_smoothness": 0.001,
        "bilateral": False,
        "bilateral_sigma_space_pct": 0.5,
        "bilateral_sigma_color": 0.05,
        "levels": True,
        "black_point": 0.1,
        "white_point": 0.9,
        "opening": True,
        "opening_size_pct": 0.5,
        "closing": True,
        "closing_size_pct": 1.0,
        "main_subject": True,
        "feather": True,
        "feather_sigma_pct": 0.15,
        "matting": True,
        "matting_band_pct": 1.0,
        "matting_smoothness": 0.0001,
    }
    u2netp = RefineSettings.for_model(REGISTRY["u2netp"])
    assert [(k, v) for k, v in u2netp.to_dict().items() if v != s.to_dict()[k]] == [
        ("edge_aware", True), ("main_subject", False), ("matting_band_pct", 1.5)
    ]
    assert RefineSettings.for_model(REGISTRY["modnet"]) == RefineSettings.for_model(REGISTRY["auto"]) == s


@pytest.mark.parametrize(
    ("name", "value", "range_text"),
    [
        ("bilateral_sigma_space_pct", 0.0, "0.05 and 5.0"),
        ("bilateral_sigma_color", 2.0, "0.01 and 1.0"),
        ("black_point", -0.1, "0.0 and 0.99"),
        ("white_point", 1.5, "0.01 and 1.0"),
        ("opening_size_pct", 6.0, "0.1 and 5.0"),
        ("closing_size_pct", 0.05, "0.1 and 5.0"),
        ("feather_sigma_pct", 2.5, "0.0 and 2.0"),
        ("feather_sigma_pct", float("nan"), "0.0 and 2.0"),
    ],
)
def test_settings_range_errors_name_field_and_range(name, value, range_text):
    with pytest.raises(SettingsError, match=name) as exc:
        RefineSettings(**{name: value})
    assert range_text in str(exc.value)


def test_settings_type_errors():
    with pytest.raises(SettingsError, match="feather"):
        RefineSettings(feather="yes")
    with pytest.raises(SettingsError, match="black_point"):
        RefineSettings(black_point="0.1")
    with pytest.raises(SettingsError, match="feather_sigma_pct"):
        RefineSettings(feather_sigma_pct=True)


def test_settings_black_point_must_be_below_white_point():
    with pytest.raises(SettingsError, match="black_point"):
        RefineSettings(black_point=0.6, white_point=0.5)
    with pytest.raises(SettingsError, match="white_point"):
        RefineSettings(black_point=0.5, white_point=0.5)


def test_settings_int_coerced_to_float():
    s = RefineSettings(closing_size_pct=2)
    assert s.closing_size_pct == 2.0 and isinstance(s.closing_size_pct, float)


def test_settings_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RefineSettings().feather = False  # type: ignore[misc]


def test_to_dict_from_dict_round_trip_through_json():
    s = RefineSettings(bilateral=False, black_point=0.2, white_point=0.8, feather_sigma_pct=0.3)
    again = RefineSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s


def test_from_dict_missing_keys_take_defaults():
    s = RefineSettings.from_dict({"feather": False})
    assert s == RefineSettings(feather=False)
    assert RefineSettings.from_dict({}) == RefineSettings()


def test_from_dict_unknown_keys_listed():
    with pytest.raises(SettingsError, match="blur_radius") as exc:
        RefineSettings.from_dict({"blur_radius": 3, "feather": True, "zz_extra": 1})
    assert "zz_extra" in str(exc.value)


def test_from_dict_rejects_non_mapping():
    with pytest.raises(SettingsError):
        RefineSettings.from_dict([("feather", True)])  # type: ignore[arg-type]


def test_every_field_has_help_and_float_fields_have_ranges():
    specs = RefineSettings.field_specs()
    assert [s.name for s in specs] == [f.name for f in dataclasses.fields(RefineSettings)]
    assert all(isinstance(s.help, str) and s.help for s in specs)
    for f in dataclasses.fields(RefineSettings):
        if isinstance(f.default, bool):
            assert set(f.metadata) == {"help", "group", "basic"}
        else:
            assert f.metadata["min"] <= f.default <= f.metadata["max"]
            assert f.metadata["step"] > 0


def test_field_specs_grouped_switch_first():
    specs = RefineSettings.field_specs()
    assert all(isinstance(s, FieldSpec) for s in specs)
    assert [s.name for s in specs] == [f.name for f in dataclasses.fields(RefineSettings)]
    groups = [s.group for s in specs]
    assert groups == [
        "edge_aware", "edge_aware", "edge_aware",
        "bilateral", "bilateral", "bilateral",
        "levels", "levels", "levels",
        "opening", "opening",
        "closing", "closing",
        "main_subject",
        "feather", "feather",
        "matting", "matting", "matting",
    ]
    for i, spec in enumerate(specs):
        # the first field of each group is its on/off switch
        if i == 0 or specs[i - 1].group != spec.group:
            assert spec.type is bool and spec.name == spec.group and spec.min is None
        else:
            assert spec.type is float and spec.min is not None and spec.max is not None
    black = next(s for s in specs if s.name == "black_point")
    assert (black.default, black.min, black.max, black.step) == (0.1, 0.0, 0.99, 0.01)


def test_field_labels_are_human_readable():
    labels = {spec.name: spec.label for spec in RefineSettings.field_specs()}
    assert labels["feather_sigma_pct"] == "Edge softness"  # a basic setting: its own label
    assert labels["opening_size_pct"] == "Opening size (% of long side)"
    assert labels["white_point"] == "White point"
    assert labels["bilateral"] == "Bilateral"


def test_keep_main_subject_drops_small_regions_and_keeps_soft_edges():
    alpha = np.zeros((12, 20), np.float32)
    alpha[2:9, 2:9] = 1.0  # the subject: 49 solid pixels
    alpha[2:9, 9] = 0.3  # its soft edge, attached
    alpha[2:9, 12:18] = 1.0  # a second person about as big (42 solid): kept
    alpha[10, 0] = 0.9  # a stray speck (1 solid pixel): dropped
    kept = keep_main_subject(alpha)
    expected = alpha.copy()
    expected[10, 0] = 0.0
    np.testing.assert_array_equal(kept, expected)
    alpha[2:9, 12:18] = 0.0
    alpha[3:5, 13:15] = 1.0  # a small object (4 solid < 25 % of 49): dropped
    assert kept.dtype == np.float32 and keep_main_subject(alpha)[3:5, 13:15].max() == 0.0


def test_edge_snapping_needs_the_photo_and_follows_its_edge():
    photo = np.zeros((60, 90, 3), np.uint8)
    photo[:, 47:] = 220
    alpha = np.zeros((60, 90), np.float32)
    alpha[:, 40:] = 1.0  # the mask's edge is 7 px off the photo's
    alpha = feather(alpha, 4.0)
    with pytest.raises(SettingsError, match="needs the photo"):
        snap_to_edges(alpha, None, radius_pct=10.0, smoothness=1e-4)
    # refining a bare mask skips the step that needs the photo
    np.testing.assert_array_equal(refine(alpha, RefineSettings(edge_aware=True)), refine(alpha, RefineSettings(edge_aware=False)))
    snapped = snap_to_edges(alpha, photo, radius_pct=10.0, smoothness=1e-4)
    assert snapped[30, 44] < alpha[30, 44] and snapped[30, 48] > alpha[30, 48]  # sharper, at the photo's edge


# ------------------------------------------------------------------------------------ the step table


def test_the_step_table_names_every_switch_of_refine_settings_once():
    switches = [spec.name for spec in RefineSettings.field_specs() if spec.type is bool]
    assert [step.name for step in STEPS] == switches  # same names, the order refine runs them (= declaration order)
    groups = {spec.group for spec in RefineSettings.field_specs()}
    assert groups == set(switches)  # every parameter belongs to a step
    assert step_fields("levels") == ("levels", "black_point", "white_point")
    assert step_fields(STEPS[-1]) == ("matting", "matting_band_pct", "matting_smoothness")


def test_full_resolution_steps_need_the_photo_and_come_last():
    assert STEPS == WORKING_STEPS + FULL_RESOLUTION_STEPS
    assert [step.name for step in FULL_RESOLUTION_STEPS] == ["matting"]
    assert all(step.needs_photo for step in FULL_RESOLUTION_STEPS)
    assert [step.name for step in STEPS if step.needs_photo] == ["edge_aware", "matting"]


def test_refine_in_two_parts_equals_refine_in_one():
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    photo[:, 30:] //= 4
    a = feather(np.pad(np.ones((48, 30), np.float32), ((0, 0), (0, 34))), 2.0)
    s = RefineSettings(edge_aware=True, main_subject=True)
    whole = refine(a, s, photo)
    parts = refine(refine(a, s, photo, WORKING_STEPS), s, photo, FULL_RESOLUTION_STEPS)
    np.testing.assert_array_equal(whole, parts)
    assert not np.array_equal(whole, refine(a, s, photo, WORKING_STEPS))  # matting did something


def test_refine_runs_only_table_steps_and_checks_the_photo_once():
    a = np.zeros((8, 8), np.float32)
    foreign = RefineStep("levels", lambda alpha, s, photo: alpha)
    with pytest.raises(SettingsError, match="STEPS"):
        refine(a, RefineSettings(), None, (foreign,))
    with pytest.raises(SettingsError, match="mask's size"):
        refine(a, RefineSettings(), np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(SettingsError, match="uint8"):
        refine(a, RefineSettings(), np.zeros((8, 8, 3), np.float32))
