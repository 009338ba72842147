"""Unit tests for core.inspection: overlays, uncertain band, histogram, zoom crops, previews, diff maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import SettingsError
from core.inspection import (
    UNCERTAIN_HIGH,
    UNCERTAIN_LOW,
    alpha_histogram,
    difference_map,
    mark_region,
    mask_overlay,
    preview_copy,
    resize_alpha,
    uncertain_fraction,
    uncertainty_band,
    uncertainty_heatmap,
    zoom_crop,
)


def photo(h: int = 3, w: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def const_alpha(value: float, h: int = 3, w: int = 4) -> np.ndarray:
    return np.full((h, w), value, np.float32)


# ------------------------------------------------------------------------------------ mask_overlay


def test_overlay_opacity_zero_is_the_photo_exactly():
    img = photo()
    a = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    out = mask_overlay(img, a, opacity=0.0)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def test_overlay_opacity_one_on_background_is_the_colour_exactly():
    out = mask_overlay(photo(), const_alpha(0.0), color=(12, 34, 56), opacity=1.0)
    assert (out == np.array([12, 34, 56], np.uint8)).all()


def test_overlay_leaves_the_subject_untouched():
    img = photo()
    np.testing.assert_array_equal(mask_overlay(img, const_alpha(1.0), opacity=1.0), img)


def test_overlay_hand_computed_pixel():
    # amount = 0.5 * (1 - 0.5) = 0.25: 100*.75 + 200*.25 = 125; 50*.75 + 0 = 37.5 -> 37 (half down);
    # 0*.75 + 80*.25 = 20.
    img = np.array([[[100, 50, 0]]], np.uint8)
    out = mask_overlay(img, np.array([[0.5]], np.float32), color=(200, 0, 80), opacity=0.5)
    assert out.tolist() == [[[125, 37, 20]]]


def test_overlay_default_colour_and_opacity_on_background():
    # Defaults: colour (255, 0, 80), opacity 0.5; on black at alpha 0 -> 127.5 -> 127, 0, 40.
    out = mask_overlay(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.float32))
    assert out.tolist() == [[[127, 0, 40]]]


def test_overlay_does_not_modify_inputs():
    img, a = photo(), const_alpha(0.3)
    copies = img.copy(), a.copy()
    mask_overlay(img, a, opacity=1.0)
    np.testing.assert_array_equal(img, copies[0])
    np.testing.assert_array_equal(a, copies[1])


@pytest.mark.parametrize("opacity", [-0.01, 1.01, float("nan"), "0.5", True])
def test_overlay_rejects_bad_opacity(opacity):
    with pytest.raises(SettingsError):
        mask_overlay(photo(), const_alpha(0.5), opacity=opacity)


def test_overlay_rejects_bad_inputs():
    with pytest.raises(SettingsError):
        mask_overlay(photo().astype(np.float32), const_alpha(0.5))
    with pytest.raises(SettingsError):
        mask_overlay(photo(), const_alpha(0.5, 2, 2))  # size mismatch
    with pytest.raises(SettingsError):
        mask_overlay(photo(), np.full((3, 4), 128, np.uint8))  # 8-bit matte
    with pytest.raises(SettingsError):
        mask_overlay(photo(), const_alpha(0.5), color=(0, 0, 256))


# -------------------------------------------------------------------------------- uncertain band


def test_band_bounds_are_exclusive():
    a = np.array([[0.0, 0.05, 0.06, 0.5, 0.94, 0.95, 1.0]], np.float32)
    band = uncertainty_band(a)
    assert band.dtype == np.bool_
    assert band.tolist() == [[False, False, True, True, True, False, False]]
    # float64 input gives the same answer (compared in float32).
    assert uncertainty_band(a.astype(np.float64)).tolist() == band.tolist()


def test_band_defaults_and_custom_bounds():
    assert (UNCERTAIN_LOW, UNCERTAIN_HIGH) == (0.05, 0.95)
    a = np.array([[0.1, 0.2, 0.5, 0.8, 0.9]], np.float32)
    assert uncertainty_band(a, low=0.2, high=0.8).tolist() == [[False, False, True, False, False]]


def test_uncertain_fraction():
    a = np.array([[0.0, 0.5], [0.3, 1.0]], np.float32)
    assert uncertain_fraction(a) == 0.5
    assert uncertain_fraction(const_alpha(1.0)) == 0.0
    assert uncertain_fraction(const_alpha(0.5)) == 1.0
    assert isinstance(uncertain_fraction(a), float)
    assert uncertain_fraction(a, low=0.4, high=0.6) == 0.25


@pytest.mark.parametrize("low, high", [(0.5, 0.5), (0.9, 0.1), (-0.1, 0.5), (0.5, 1.5), ("a", 0.5)])
def test_band_rejects_bad_bounds(low, high):
    with pytest.raises(SettingsError):
        uncertainty_band(const_alpha(0.5), low, high)


def test_band_rejects_bad_alpha():
    with pytest.raises(SettingsError):
        uncertainty_band(np.full((2, 2), 2.0, np.float32))
    with pytest.raises(SettingsError):
        uncertainty_band(np.zeros((2, 2, 1), np.float32))
    with pytest.raises(SettingsError):
        uncertain_fraction([[0.5]])


# ------------------------------------------------------------------------------------- heat map


def test_heatmap_greys_certain_pixels_at_40_percent():
    img = np.array([[[100, 100, 100], [200, 200, 200], [0, 255, 0]]], np.uint8)
    a = np.array([[0.0, 1.0, 0.99]], np.float32)
    out = uncertainty_heatmap(img, a)
    assert out.dtype == np.uint8 and out.shape == (1, 3, 3)
    # 100 * 0.4 = 40; 200 * 0.4 = 80; pure green has luminance round(0.587*255) = 150 -> 60.
    assert out.tolist() == [[[40, 40, 40], [80, 80, 80], [60, 60, 60]]]


def test_heatmap_colours_the_band_and_brighter_when_more_uncertain():
    img = np.full((1, 4, 3), 100, np.uint8)
    a = np.array([[0.0, 0.1, 0.5, 1.0]], np.float32)
    out = uncertainty_heatmap(img, a).astype(int)
    assert out[0, 0].tolist() == [40, 40, 40] and out[0, 3].tolist() == [40, 40, 40]
    for x in (1, 2):
        assert out[0, x].tolist() != [40, 40, 40]
        assert len(set(out[0, x].tolist())) > 1  # a colour, not a grey
    assert out[0, 2].sum() > out[0, 1].sum()  # alpha 0.5 is the most uncertain -> brightest
    # Centre of the band is the top of the inferno map (a pale yellow).
    top = cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_INFERNO)[0, 0, ::-1]
    assert out[0, 2].tolist() == top.tolist()


def test_heatmap_respects_custom_band_and_does_not_modify_inputs():
    img, a = np.full((1, 2, 3), 100, np.uint8), np.array([[0.5, 0.3]], np.float32)
    copies = img.copy(), a.copy()
    out = uncertainty_heatmap(img, a, low=0.4, high=0.6)
    assert out[0, 1].tolist() == [40, 40, 40] and out[0, 0].tolist() != [40, 40, 40]
    np.testing.assert_array_equal(img, copies[0])
    np.testing.assert_array_equal(a, copies[1])


def test_heatmap_rejects_bad_inputs():
    with pytest.raises(SettingsError):
        uncertainty_heatmap(np.zeros((2, 2), np.uint8), const_alpha(0.5, 2, 2))
    with pytest.raises(SettingsError):
        uncertainty_heatmap(photo(), const_alpha(0.5, 4, 3))
    with pytest.raises(SettingsError):
        uncertainty_heatmap(photo(), const_alpha(0.5), low=0.7, high=0.3)


# ------------------------------------------------------------------------------------ histogram


def test_histogram_counts_and_edges():
    a = np.array([[0.0, 0.1, 0.25, 0.5], [0.5, 0.75, 0.99, 1.0]], np.float32)
    counts, edges = alpha_histogram(a, bins=4)
    assert counts.dtype == np.int64 and edges.dtype == np.float64
    # bins [0, .25) [.25, .5) [.5, .75) [.75, 1]: the last bin includes 1.0.
    assert counts.tolist() == [2, 1, 2, 3]
    assert edges.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_histogram_default_bins():
    counts, edges = alpha_histogram(const_alpha(1.0))
    assert counts.shape == (50,) and edges.shape == (51,)
    assert counts[-1] == 12 and counts.sum() == 12
    assert edges[0] == 0.0 and edges[-1] == 1.0


@pytest.mark.parametrize("bins", [0, -3, 2.5, True])
def test_histogram_rejects_bad_bins(bins):
    with pytest.raises(SettingsError):
        alpha_histogram(const_alpha(0.5), bins=bins)


# ------------------------------------------------------------------------------------ zoom_crop


def grid(h: int = 10, w: int = 10) -> np.ndarray:
    return np.arange(h * w, dtype=np.int32).reshape(h, w)


def test_zoom_crop_centre():
    img = grid()
    crop, box = zoom_crop(img, (0.5, 0.5), size=4)
    assert box == (3, 7, 3, 7)
    np.testing.assert_array_equal(crop, img[3:7, 3:7])


def test_zoom_crop_clamps_at_corners():
    img = grid()
    crop, box = zoom_crop(img, (0.0, 0.0), size=4)
    assert box == (0, 4, 0, 4)
    np.testing.assert_array_equal(crop, img[:4, :4])
    crop, box = zoom_crop(img, (1.0, 1.0), size=4)
    assert box == (6, 10, 6, 10)
    np.testing.assert_array_equal(crop, img[6:, 6:])


def test_zoom_crop_smaller_image_and_colour_channels():
    img = np.random.default_rng(2).integers(0, 256, (3, 12, 3), dtype=np.uint8)
    crop, box = zoom_crop(img, (0.5, 0.25), size=5)
    # Height 3 < 5 -> whole height; x: 0.25*12 - 2.5 = 0.5 -> rounds (half up) to 1.
    assert box == (0, 3, 1, 6)
    assert crop.shape == (3, 5, 3)
    np.testing.assert_array_equal(crop, img[0:3, 1:6])
    # Same along y: 0.25*12 - 2.5 = 0.5 -> 1.
    crop, box = zoom_crop(img.transpose(1, 0, 2), (0.25, 0.5), size=5)
    assert box == (1, 6, 0, 3)


def test_zoom_crop_is_a_copy():
    img = grid()
    crop, _ = zoom_crop(img, (0.5, 0.5), size=4)
    crop[...] = -1
    assert img.min() == 0


@pytest.mark.parametrize(
    "center, size",
    [((1.5, 0.5), 4), ((0.5, -0.1), 4), ((0.5,), 4), ("middle", 4), ((0.5, 0.5), 0), ((0.5, 0.5), 3.0)],
)
def test_zoom_crop_rejects_bad_arguments(center, size):
    with pytest.raises(SettingsError):
        zoom_crop(grid(), center, size=size)


def test_zoom_crop_rejects_bad_image():
    with pytest.raises(SettingsError):
        zoom_crop(np.zeros(10), (0.5, 0.5))
    with pytest.raises(SettingsError):
        zoom_crop(np.zeros((0, 5)), (0.5, 0.5))


# ---------------------------------------------------------------------------------- mark_region


def test_mark_region_draws_a_frame_just_outside_the_box():
    img = np.zeros((8, 8, 3), np.uint8)
    out = mark_region(img, (3, 5, 3, 5), color=(255, 0, 0), thickness=1)
    expected = np.zeros((8, 8), np.uint8)
    expected[2:6, 2:6] = 255
    expected[3:5, 3:5] = 0  # the box itself stays visible
    np.testing.assert_array_equal(out[..., 0], expected)
    assert not out[..., 1:].any()
    assert not img.any()  # input untouched


def test_mark_region_frame_stays_inside_the_image_at_the_border():
    img = np.zeros((6, 6, 3), np.uint8)
    out = mark_region(img, (0, 6, 0, 6), color=(0, 255, 0), thickness=1)
    expected = np.full((6, 6), 255, np.uint8)
    expected[1:5, 1:5] = 0
    np.testing.assert_array_equal(out[..., 1], expected)


def test_mark_region_default_thickness_is_at_least_two_pixels():
    img = np.zeros((20, 20, 3), np.uint8)
    out = mark_region(img, (8, 12, 8, 12))
    assert out[6:8, 10].tolist() == [[255, 215, 0]] * 2  # two rows above the box
    assert out[5, 10].tolist() == [0, 0, 0]
    assert out[8:12, 8:12].max() == 0


@pytest.mark.parametrize("box", [(0, 0, 0, 4), (2, 1, 0, 4), (0, 9, 0, 4), (-1, 4, 0, 4), (0, 4, 0), (0, 4.0, 0, 4)])
def test_mark_region_rejects_bad_boxes(box):
    with pytest.raises(SettingsError):
        mark_region(np.zeros((8, 8, 3), np.uint8), box)


def test_mark_region_rejects_bad_thickness():
    with pytest.raises(SettingsError):
        mark_region(np.zeros((8, 8, 3), np.uint8), (2, 4, 2, 4), thickness=0)


# ---------------------------------------------------------------------------------- preview_copy


def test_preview_copy_downscales_long_side():
    out = preview_copy(np.zeros((4000, 3000, 3), np.uint8))
    assert out.shape == (1280, 960, 3) and out.dtype == np.uint8
    out = preview_copy(np.zeros((3000, 4000), np.float32))
    assert out.shape == (960, 1280) and out.dtype == np.float32


def test_preview_copy_uses_area_averaging():
    # 6x6 -> 2x2: each output pixel is the mean of a 3x3 block (bilinear would sample one pixel).
    img = np.zeros((6, 6), np.float32)
    img[0, 0] = 0.9
    img[3:, 3:] = 1.0
    out = preview_copy(img, max_side=2)
    np.testing.assert_allclose(out, [[0.1, 0.0], [0.0, 1.0]], atol=1e-6)
    stripes = np.tile(np.array([0, 0, 255], np.uint8), (6, 2))[..., None].repeat(3, axis=2)  # 6x6x3
    assert preview_copy(stripes, max_side=2).tolist() == [[[85] * 3] * 2] * 2


def test_preview_copy_small_image_is_an_unchanged_copy():
    img = photo(5, 7)
    out = preview_copy(img, max_side=7)
    np.testing.assert_array_equal(out, img)
    out[...] = 0
    assert img.any()  # a copy, not a view


def test_preview_copy_rejects_bad_arguments():
    with pytest.raises(SettingsError):
        preview_copy(np.zeros((10, 10), np.float32), max_side=0)
    with pytest.raises(SettingsError):
        preview_copy(np.zeros((10, 10), np.bool_))
    with pytest.raises(SettingsError):
        preview_copy("image.png")


# ---------------------------------------------------------------------------------- resize_alpha


def test_resize_alpha_shrinks_with_area_averaging():
    # 2x6 -> 1x2: means of 2x3 blocks (bilinear would pick the middle column of each: 0 and 1).
    a = np.array([[0.0, 0.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]], np.float32)
    out = resize_alpha(a, (1, 2))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1 / 3, 5 / 6]], atol=1e-6)


def test_resize_alpha_grows_linearly_and_stays_in_range():
    a = np.array([[0.0, 1.0]], np.float32)
    out = resize_alpha(a, (1, 4))
    assert out.shape == (1, 4) and out.dtype == np.float32
    # INTER_LINEAR with pixel-centre alignment: 0, 0.25, 0.75, 1.
    np.testing.assert_allclose(out, [[0.0, 0.25, 0.75, 1.0]], atol=1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_resize_alpha_same_shape_is_a_copy():
    a = const_alpha(0.25, 2, 3)
    out = resize_alpha(a, (2, 3))
    np.testing.assert_array_equal(out, a)
    out[...] = 0
    assert a[0, 0] == np.float32(0.25)


@pytest.mark.parametrize("shape", [(0, 3), (2,), (2.0, 3), "2x3"])
def test_resize_alpha_rejects_bad_shape(shape):
    with pytest.raises(SettingsError):
        resize_alpha(const_alpha(0.5), shape)


# -------------------------------------------------------------------------------- difference_map


def test_difference_map_colours():
    a = np.array([[0.0, 1.0, 0.3, 0.0, 0.5]], np.float32)
    b = np.array([[1.0, 0.0, 0.3, 0.5, 0.25]], np.float32)
    out = difference_map(a, b)
    assert out.dtype == np.uint8 and out.shape == (1, 5, 3)
    assert out.tolist() == [[
        [0, 255, 0],      # added fully -> green
        [255, 0, 255],    # removed fully -> magenta
        [0, 0, 0],        # equal -> black
        [0, 127, 0],      # +0.5 -> 127.5 -> 127 (half down)
        [64, 0, 64],      # -0.25 -> 63.75 -> 64
    ]]


def test_difference_map_rejects_mismatched_or_bad_mattes():
    with pytest.raises(SettingsError):
        difference_map(const_alpha(0.5, 2, 2), const_alpha(0.5, 2, 3))
    with pytest.raises(SettingsError):
        difference_map(const_alpha(0.5), np.full((3, 4), 255, np.uint8))


def test_view_crop_takes_the_box_at_its_own_pixels_or_fits_it_to_the_screen():
    from core.inspection import view_crop

    image = np.arange(20 * 40 * 3, dtype=np.uint32).reshape(20, 40, 3).astype(np.uint8)
    alpha = np.linspace(0, 1, 20 * 40, dtype=np.float32).reshape(20, 40)
    (crop, crop_alpha), box = view_crop(image, alpha, (0.25, 0.5, 0.5, 0.75), (100, 100))
    np.testing.assert_array_equal(crop, image[10:15, 10:20])  # 10×5 pixels fit the screen: taken as they are
    np.testing.assert_array_equal(crop_alpha, alpha[10:15, 10:20])
    assert box == (0.25, 0.5, 0.5, 0.75)
    (small, small_alpha), box = view_crop(image, alpha, (0.0, 0.0, 1.0, 1.0), (20, 20))
    assert small.shape == (10, 20, 3) and small_alpha.shape == (10, 20) and box == (0.0, 0.0, 1.0, 1.0)
    (_, _), box = view_crop(image, alpha, (0.26, 0.51, 0.49, 0.74), (100, 100))
    assert box == (10 / 40, 10 / 20, 20 / 40, 15 / 20)  # whole pixels around the asked box
