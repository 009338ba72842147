"""core.shadow: off is the identity, on only darkens what the subject does not cover; exact small cases."""

from __future__ import annotations

import numpy as np
import pytest

from core.composite import Background
from core.errors import SettingsError
from core.finishing import FinishSettings, finish
from core.shadow import ShadowSettings, cast_shadow, darken, shadow_matte, with_shadow_rgba

NO_EDGE_WORK = FinishSettings(decontaminate=False)


def square(shape=(40, 40), rows=(10, 30), cols=(10, 30)) -> np.ndarray:
    a = np.zeros(shape, np.float32)
    a[rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return a


def photo(shape=(40, 40)) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, shape + (3,), dtype=np.uint8)


def test_off_is_the_identity():
    a = square()
    a[9, 10:30] = 0.5
    for off in (None, ShadowSettings(), ShadowSettings(shadow=True, shadow_opacity_pct=0)):
        for bg in (Background(kind="color", color=(200, 180, 160)), Background(kind="transparent")):
            np.testing.assert_array_equal(finish(photo(), a, bg, NO_EDGE_WORK, off), finish(photo(), a, bg, NO_EDGE_WORK))
    assert not shadow_matte(a, ShadowSettings()).any()


@pytest.mark.parametrize("style", ["drop", "contact"])
def test_on_only_darkens_pixels_outside_the_subject(style):
    a = square()
    a[9, 10:30] = 0.5  # a soft edge: darkened at most by half
    settings = ShadowSettings(shadow=True, shadow_style=style, shadow_angle_deg=90, shadow_distance_pct=10)
    bg = Background(kind="color", color=(200, 180, 160))
    off = finish(photo(), a, bg, NO_EDGE_WORK)
    on = finish(photo(), a, bg, NO_EDGE_WORK, settings)
    assert (on <= off).all()
    np.testing.assert_array_equal(on[a == 1], off[a == 1])
    assert (on[a == 0] < off[a == 0]).any()


def test_drop_shadow_is_the_silhouette_shifted_along_the_angle():
    a = square()
    # 0 degrees (to the right), 10 % of 40 px = 4 px, no blur, 50 % opacity
    settings = ShadowSettings(shadow=True, shadow_angle_deg=0, shadow_distance_pct=10, shadow_softness_pct=0, shadow_opacity_pct=50)
    expected = np.zeros_like(a)
    expected[10:30, 14:34] = 0.5
    np.testing.assert_allclose(shadow_matte(a, settings), expected, atol=1e-6)
    down = ShadowSettings(shadow=True, shadow_angle_deg=90, shadow_distance_pct=10, shadow_softness_pct=0, shadow_opacity_pct=100)
    expected = np.zeros_like(a)
    expected[14:34, 10:30] = 1.0
    np.testing.assert_allclose(shadow_matte(a, down), expected, atol=1e-5)


def test_contact_shadow_lies_on_the_ground_under_the_subject():
    a = square((100, 60), rows=(20, 80), cols=(20, 40))  # a standing subject; feet at row 79
    settings = ShadowSettings(shadow=True, shadow_style="contact", shadow_distance_pct=0, shadow_softness_pct=0, shadow_opacity_pct=100)
    s = shadow_matte(a, settings)
    rows = np.flatnonzero(s.any(axis=1))
    assert rows.min() >= 80 - 0.06 * 60 - 1 and rows.max() <= 80  # a pool at most 6 % of its height, at its feet
    assert np.flatnonzero(s.any(axis=0)).tolist() == list(range(20, 40))  # as wide as the subject
    assert not shadow_matte(np.zeros((10, 10), np.float32), settings).any()


def test_darken_is_plate_times_one_minus_shadow():
    plate = np.array([[[200, 100, 0], [255, 255, 255]]], np.uint8)
    s = np.array([[0.25, 1.0]], np.float32)
    np.testing.assert_array_equal(darken(plate, s), [[[150, 75, 0], [0, 0, 0]]])
    assert cast_shadow(plate, np.zeros((1, 2), np.float32), None) is plate


def test_shadow_in_the_cutout_is_partly_transparent_black():
    rgba = np.array([[[200, 100, 50, 128], [90, 90, 90, 0], [10, 20, 30, 255]]], np.uint8)
    s = np.array([[0.5, 0.4, 0.9]], np.float32)
    # a = 128/255: A = a + 0.5 (1 - a) = 191.5/255 → 192 (to even); colour 200 * a / A = 133.68 → 134
    np.testing.assert_array_equal(with_shadow_rgba(rgba, s), [[[134, 67, 33, 192], [0, 0, 0, 102], [10, 20, 30, 255]]])


def test_cutout_keeps_the_shadow_only_when_asked():
    a = square()
    settings = ShadowSettings(shadow=True, shadow_angle_deg=0, shadow_distance_pct=10, shadow_softness_pct=0)
    plain = finish(photo(), a, Background(kind="transparent"), NO_EDGE_WORK, settings)
    assert plain[10:30, 30:34, 3].max() == 0
    kept = finish(photo(), a, Background(kind="transparent"), NO_EDGE_WORK, ShadowSettings(**{**settings.to_dict(), "shadow_in_cutout": True}))
    assert (kept[10:30, 30:34, 3] > 0).all() and (kept[10:30, 30:34, :3] == 0).all()
    np.testing.assert_array_equal(kept[a == 1], plain[a == 1])


def test_settings_are_checked():
    with pytest.raises(SettingsError, match="shadow_style"):
        ShadowSettings(shadow_style="hard")
    with pytest.raises(SettingsError, match="shadow_opacity_pct"):
        ShadowSettings(shadow_opacity_pct=120)
