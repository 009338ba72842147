"""Unit tests for core.harmonize: Lab statistics transfer toward the new background, and light wrap."""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import pytest

from core.composite import blend
from core.errors import SettingsError
from core.harmonize import harmonize, light_wrap


def lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 ...x3 RGB -> float64 Lab (L 0..100)."""
    arr = np.asarray(rgb, np.uint8).reshape(-1, 1, 3).astype(np.float32) / 255
    return cv2.cvtColor(arr, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb)).astype(np.float64)


def solid(rgb: tuple[int, int, int], h: int, w: int) -> np.ndarray:
    out = np.empty((h, w, 3), np.uint8)
    out[...] = rgb
    return out


def centre_square(h: int, w: int, margin: int) -> np.ndarray:
    a = np.zeros((h, w), np.float32)
    a[margin : h - margin, margin : w - margin] = 1.0
    return a


def random_inputs(seed: int = 0, h: int = 12, w: int = 17):
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a = rng.random((h, w), dtype=np.float32)
    return fg, a, bg


# ------------------------------------------------------------------------------------- harmonize


def test_harmonize_strength_zero_is_identity_bit_for_bit():
    fg, a, bg = random_inputs()
    copies = fg.copy(), a.copy(), bg.copy()
    out = harmonize(fg, a, bg, strength=0.0)
    assert out.dtype == np.uint8 and out.shape == fg.shape
    np.testing.assert_array_equal(out, fg)
    assert not np.shares_memory(out, fg)
    for orig, copy in zip((fg, a, bg), copies):
        np.testing.assert_array_equal(orig, copy)


def test_harmonize_does_not_modify_inputs():
    fg, a, bg = random_inputs(1)
    copies = fg.copy(), a.copy(), bg.copy()
    harmonize(fg, a, bg, strength=1.0)
    for orig, copy in zip((fg, a, bg), copies):
        np.testing.assert_array_equal(orig, copy)


def test_harmonize_same_statistics_is_identity():
    # Subject and visible background are the same flat colour: nothing to transfer.
    fg = solid((30, 120, 200), 8, 8)
    out = harmonize(fg, centre_square(8, 8, 2), fg.copy(), strength=1.0)
    np.testing.assert_array_equal(out, fg)


@pytest.mark.parametrize("strength", [0.25, 0.5, 1.0])
def test_harmonize_grey_subject_on_blue_gets_a_bounded_blue_tint(strength):
    fg = solid((128, 128, 128), 20, 20)
    bg = solid((0, 0, 255), 20, 20)
    a = centre_square(20, 20, 5)
    out = harmonize(fg, a, bg, strength)
    assert out.dtype == np.uint8 and out.shape == fg.shape
    before, after, target = lab(fg[10, 10]), lab(out[10, 10]), lab(bg[0, 0])
    # b: toward the blue's b (-108) ...
    assert target[2] < -100
    db = after[2] - before[2]
    assert db < 0
    # ... by at most 70 % of the difference and never beyond the 15-unit cap (times strength);
    # 1 Lab unit of slack for the 8-bit output (one RGB level near grey is about 1 unit of b).
    assert abs(db) <= strength * min(0.7 * abs(target[2] - before[2]), 15.0) + 1.0
    assert abs(db) >= strength * 15.0 - 1.0  # the cap binds here: 0.7 * 108 > 15
    # L: toward the darker blue by half the difference (0.5 * 21.3 < 20-unit cap).
    dL = after[0] - before[0]
    assert dL < 0
    assert abs(dL) == pytest.approx(strength * 0.5 * abs(target[0] - before[0]), abs=1.0)
    # The whole subject moves alike (flat in, flat out).
    assert (out[5:15, 5:15] == out[10, 10]).all()


def test_harmonize_tint_grows_with_strength():
    fg, bg = solid((128, 128, 128), 20, 20), solid((0, 0, 255), 20, 20)
    a = centre_square(20, 20, 5)
    b_values = [lab(harmonize(fg, a, bg, s)[10, 10])[2] for s in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    assert all(later < earlier for earlier, later in pairwise(b_values))


def test_harmonize_counts_only_the_visible_background():
    # The plate is red under the subject but blue around it: only the blue (weight 1 - alpha) counts.
    fg = solid((128, 128, 128), 20, 20)
    a = centre_square(20, 20, 5)
    bg = solid((0, 0, 255), 20, 20)
    bg[a > 0] = (255, 0, 0)
    only_blue = harmonize(fg, a, solid((0, 0, 255), 20, 20), 1.0)
    np.testing.assert_array_equal(harmonize(fg, a, bg, 1.0), only_blue)


def test_harmonize_full_frame_subject_uses_the_whole_plate():
    fg = solid((128, 128, 128), 6, 6)
    out = harmonize(fg, np.ones((6, 6), np.float32), solid((0, 0, 255), 6, 6), 1.0)
    assert lab(out[0, 0])[2] < lab(fg[0, 0])[2] - 10


def test_harmonize_without_subject_returns_a_copy():
    fg, _, bg = random_inputs(2)
    out = harmonize(fg, np.zeros(fg.shape[:2], np.float32), bg, 1.0)
    np.testing.assert_array_equal(out, fg)


def test_harmonize_spread_ratio_is_limited():
    # Low-contrast subject (two greys), high-contrast plate (black/white): contrast grows, at most 1.4x.
    h, w = 40, 40
    fg = solid((110, 110, 110), h, w)
    fg[:, ::2] = (140, 140, 140)
    bg = solid((0, 0, 0), h, w)
    bg[::2] = (255, 255, 255)
    a = centre_square(h, w, 10)
    inside = a > 0
    sd_before = lab(fg[inside])[:, 0].std()
    sd_after = lab(harmonize(fg, a, bg, 1.0)[inside])[:, 0].std()
    assert sd_before < sd_after <= 1.4 * sd_before + 0.5
    sd_half = lab(harmonize(fg, a, bg, 0.5)[inside])[:, 0].std()
    assert sd_before < sd_half < sd_after


def test_harmonize_random_inputs_stay_subtle():
    fg, a, bg = random_inputs(3, 64, 80)
    out = harmonize(fg, a, bg, 1.0)
    assert out.dtype == np.uint8 and out.shape == fg.shape
    diff = np.abs(out.astype(int) - fg.astype(int))
    assert diff.mean() < 10


@pytest.mark.parametrize("strength", [-0.1, 1.01, float("nan"), True, "0.5", None])
def test_harmonize_rejects_bad_strength(strength):
    fg, a, bg = random_inputs()
    with pytest.raises(SettingsError, match="strength"):
        harmonize(fg, a, bg, strength)


def test_harmonize_validation():
    fg, a, bg = random_inputs()
    with pytest.raises(SettingsError, match="cover_fit"):
        harmonize(fg, a, bg[:-1], 0.5)
    with pytest.raises(SettingsError, match="resize"):
        harmonize(fg, a[:-1], bg, 0.5)
    with pytest.raises(SettingsError, match="uint8"):
        harmonize(fg.astype(np.float32), a, bg, 0.5)
    with pytest.raises(SettingsError):
        harmonize(fg, a * 3, bg, 0.5)


# ------------------------------------------------------------------------------------ light_wrap


def dark_subject_on_white(n: int = 200, margin: int = 50):
    """A 60-grey square subject blended over a white plate: (composite, alpha, background)."""
    a = centre_square(n, n, margin)
    bg = solid((255, 255, 255), n, n)
    comp = blend(solid((60, 60, 60), n, n), a, bg)
    return comp, a, bg


def test_light_wrap_strength_zero_is_identity_bit_for_bit():
    comp, a, bg = dark_subject_on_white()
    copies = comp.copy(), a.copy(), bg.copy()
    out = light_wrap(comp, a, bg, radius_pct=2.0, strength=0.0)
    np.testing.assert_array_equal(out, comp)
    assert not np.shares_memory(out, comp)
    light_wrap(comp, a, bg, radius_pct=2.0, strength=1.0)
    for orig, copy in zip((comp, a, bg), copies):
        np.testing.assert_array_equal(orig, copy)


@pytest.mark.parametrize(("n", "radius_pct"), [(200, 2.0), (800, 4.0)])  # radius 4 px; 32 px (downscaled path)
def test_light_wrap_changes_only_the_inner_edge_band(n, radius_pct):
    margin = n // 4
    comp, a, bg = dark_subject_on_white(n, margin)
    out = light_wrap(comp, a, bg, radius_pct=radius_pct, strength=1.0)
    radius = radius_pct / 100 * n
    deep = int(np.ceil(3 * radius))
    # Background (alpha 0): untouched.
    np.testing.assert_array_equal(out[a == 0], comp[a == 0])
    # Deep inside the subject (farther than 3 radii from the edge): untouched.
    inner = slice(margin + deep, n - margin - deep)
    np.testing.assert_array_equal(out[inner, inner], comp[inner, inner])
    # The subject's outermost pixels receive the white light: clearly brighter, never darker.
    edge_row = out[n // 2, margin]
    assert (edge_row > 60 + 40).all()
    assert (out >= comp).all()
    # Brightness falls off going inward.
    profile = out[n // 2, margin : margin + deep, 0].astype(int)
    assert (np.diff(profile) <= 0).all()


def test_light_wrap_is_monotone_in_strength():
    comp, a, bg = dark_subject_on_white()
    outs = [light_wrap(comp, a, bg, 2.0, s).astype(int) for s in (0.0, 0.1, 0.3, 0.6, 1.0)]
    for weaker, stronger in pairwise(outs):
        assert (stronger >= weaker).all()
        assert stronger[100, 50, 0] > weaker[100, 50, 0]  # the outermost subject pixel


def test_light_wrap_black_background_adds_no_light():
    a = centre_square(60, 60, 15)
    bg = solid((0, 0, 0), 60, 60)
    comp = blend(solid((90, 140, 30), 60, 60), a, bg)
    np.testing.assert_array_equal(light_wrap(comp, a, bg, 3.0, 1.0), comp)


def test_light_wrap_light_comes_from_the_background_not_the_subject():
    # A white subject on a black plate: normalised blur keeps the white out of the light, so no change.
    a = centre_square(60, 60, 15)
    bg = solid((0, 0, 0), 60, 60)
    comp = blend(solid((255, 255, 255), 60, 60), a, bg)
    np.testing.assert_array_equal(light_wrap(comp, a, bg, 3.0, 1.0), comp)


def test_light_wrap_takes_the_colour_of_the_nearby_background():
    # Blue plate on the left, red on the right: the left edge of the subject turns blue-ish, the right red-ish.
    n = 120
    a = centre_square(n, n, 40)
    bg = solid((255, 0, 0), n, n)
    bg[:, : n // 2] = (0, 0, 255)
    comp = blend(solid((0, 0, 0), n, n), a, bg)
    out = light_wrap(comp, a, bg, 2.0, 1.0).astype(int)
    left, right = out[n // 2, 40], out[n // 2, n - 41]
    assert left[2] > 50 and left[0] == 0
    assert right[0] > 50 and right[2] == 0


def test_light_wrap_radius_is_relative_to_the_long_side():
    widths = []
    for n in (100, 400):
        a = np.zeros((n, n), np.float32)
        a[:, : n // 2] = 1.0
        bg = solid((255, 255, 255), n, n)
        comp = blend(solid((0, 0, 0), n, n), a, bg)
        out = light_wrap(comp, a, bg, radius_pct=2.0, strength=1.0)
        widths.append(int((out[n // 2, :, 0] != comp[n // 2, :, 0]).sum()))
        # The subject touches the frame on three sides: no light wraps in along the frame border.
        np.testing.assert_array_equal(out[:, : n // 4], comp[:, : n // 4])
    assert 3 <= widths[1] / widths[0] <= 5


@pytest.mark.parametrize("strength", [-0.5, 2.0, float("inf"), False])
def test_light_wrap_rejects_bad_strength(strength):
    comp, a, bg = dark_subject_on_white(20, 5)
    with pytest.raises(SettingsError, match="strength"):
        light_wrap(comp, a, bg, 1.0, strength)


@pytest.mark.parametrize("radius_pct", [0.0, -1.0, float("nan"), 51.0, "1"])
def test_light_wrap_rejects_bad_radius(radius_pct):
    comp, a, bg = dark_subject_on_white(20, 5)
    with pytest.raises(SettingsError, match="radius"):
        light_wrap(comp, a, bg, radius_pct, 0.3)


def test_light_wrap_validation():
    comp, a, bg = dark_subject_on_white(20, 5)
    with pytest.raises(SettingsError, match="cover_fit"):
        light_wrap(comp, a, bg[:, :-1], 1.0, 0.3)
    with pytest.raises(SettingsError, match="resize"):
        light_wrap(comp, a[1:], bg, 1.0, 0.3)
    with pytest.raises(SettingsError, match="uint8"):
        light_wrap(comp[..., 0], a, bg, 1.0, 0.3)
