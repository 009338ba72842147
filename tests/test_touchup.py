"""Unit tests for core.touchup: stroke rasterisation, the far field, resolution independence, snapping, regions, files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core.errors import SettingsError
from core.touchup import Edit, apply_edits, edits_to_json, parse_edits, stroke_distance


def stroke(mode: str, radius: float, *points: tuple[float, float], snap: bool = True) -> Edit:
    return Edit(mode, tuple(points), radius, False, snap)


def brute_distance(shape, points_px) -> np.ndarray:
    """Distance of every pixel centre to the polyline through points_px (pixel units), by brute force."""
    h, w = shape
    cy, cx = np.mgrid[0:h, 0:w] + 0.5
    best = np.full(shape, np.inf)
    pairs = [(points_px[0], points_px[0])] if len(points_px) == 1 else list(zip(points_px[:-1], points_px[1:]))
    for (ax, ay), (bx, by) in pairs:
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.zeros(shape) if length2 == 0 else np.clip(((cx - ax) * dx + (cy - ay) * dy) / length2, 0, 1)
        best = np.minimum(best, np.hypot(cx - ax - t * dx, cy - ay - t * dy))
    return best


# --------------------------------------------------------------------------------------- geometry


def test_stroke_distance_is_the_distance_of_pixel_centres_to_the_polyline():
    edit = stroke("erase", 0.1, (0.2, 0.25), (0.7, 0.5), (0.75, 0.9))
    box, distance = stroke_distance((40, 60), edit, 6.0)
    full = brute_distance((40, 60), [(0.2 * 60, 0.25 * 40), (0.7 * 60, 0.5 * 40), (0.75 * 60, 0.9 * 40)])
    inside = np.isfinite(distance)
    np.testing.assert_allclose(distance[inside], full[box][inside], atol=1e-5)
    assert (full[box][~inside] > 6.0).all()  # left at infinity only beyond the reach
    # a pixel centre half a pixel right of a one-point stroke at x = 10 px
    _, single = stroke_distance((20, 20), stroke("erase", 0.1, (0.5, 0.5)), 2.0)
    assert single.min() == pytest.approx(np.hypot(0.5, 0.5))


def test_a_stroke_outside_the_photo_touches_nothing():
    a = np.full((10, 10), 0.5, np.float32)
    out = apply_edits(a, [stroke("erase", 0.1, (1.9, 1.9))])
    np.testing.assert_array_equal(out, a)


# ------------------------------------------------------------------------------------ the contract


@pytest.mark.parametrize("mode, value", [("erase", 0.0), ("restore", 1.0)])
def test_core_is_exact_and_far_field_is_unchanged_bit_for_bit(mode, value):
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 1, (50, 70)).astype(np.float32)
    photo = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    edit = stroke(mode, 0.1, (0.3, 0.3), (0.6, 0.5))  # radius 7 px
    for image in (None, photo):  # plain soft brush, and snapped to the photo
        out = apply_edits(a, [edit], image)
        d = brute_distance(a.shape, [(0.3 * 70, 0.3 * 50), (0.6 * 70, 0.5 * 50)])
        assert (out[d <= 3.5] == value).all()
        np.testing.assert_array_equal(out[d > 14.0], a[d > 14.0])  # twice the radius (here: beyond the radius, too)
        np.testing.assert_array_equal(out[d > 7.0], a[d > 7.0])
        assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_soft_brush_band_is_a_smoothstep_hand_computed():
    a = np.ones((1, 40), np.float32)
    out = apply_edits(a, [stroke("erase", 0.2, (0.5, 0.5), snap=False)])  # 8 px radius at x = 20 px
    # pixel 25: centre 25.5, distance 5.5 → t = (5.5 − 4) / 4 = 0.375 → smoothstep 0.34375
    assert out[0, 25] == pytest.approx(0.375 * 0.375 * (3 - 2 * 0.375), abs=1e-6)
    assert out[0, 22] == 0.0 and out[0, 28] == 1.0  # 2.5 px: core; 8.5 px: outside


def test_later_edits_win_and_the_input_is_not_modified():
    a = np.zeros((20, 20), np.float32)
    before = a.copy()
    out = apply_edits(a, [stroke("restore", 0.5, (0.5, 0.5)), stroke("erase", 0.1, (0.5, 0.5))], None)
    assert out[10, 10] == 0.0 and out[10, 13] == 1.0  # erased centre inside a restored disc
    np.testing.assert_array_equal(a, before)
    np.testing.assert_array_equal(apply_edits(a, []), a)


def test_the_same_edits_mean_the_same_at_twice_the_resolution():
    yy, xx = np.mgrid[0:60, 0:80]
    small = np.clip((30 - np.hypot(yy - 30, xx - 40)) / 3, 0, 1).astype(np.float32)
    big = cv2.resize(small, (160, 120), interpolation=cv2.INTER_LINEAR)
    edits = [stroke("erase", 0.08, (0.45, 0.2), (0.55, 0.8), snap=False), stroke("restore", 0.05, (0.1, 0.1), (0.2, 0.15), snap=False)]
    out_small = apply_edits(small, edits)
    out_big = apply_edits(big, edits)
    back = cv2.resize(out_big, (80, 60), interpolation=cv2.INTER_AREA)
    changed = np.abs(out_small - small) > 0
    assert changed.sum() > 200
    assert np.abs(back - out_small).mean() < 0.01
    assert np.abs(back - out_small)[changed].max() < 0.3  # within rounding of the 2× pixel grid at the band's edge


def test_snapping_follows_a_step_edge_inside_the_band():
    # background green left of x = 47, subject red from 47 on; the mask wrongly starts at x = 40
    photo = np.zeros((40, 90, 3), np.uint8)
    photo[:, :47] = (40, 160, 60)
    photo[:, 47:] = (200, 40, 40)
    photo = (photo.astype(int) + np.random.default_rng(1).integers(-6, 7, photo.shape)).clip(0, 255).astype(np.uint8)
    mask = np.zeros((40, 90), np.float32)
    mask[:, 40:] = 1.0
    edit = stroke("erase", 10 / 90, (40.5 / 90, 0.0), (40.5 / 90, 1.0))  # 10 px radius along x = 40.5: core to 45.5
    snapped = apply_edits(mask, [edit], photo)
    plain = apply_edits(mask, [edit], None)
    rows = slice(5, 35)
    assert (snapped[rows, 46] < 0.1).all()  # band pixels with the background's colour go
    assert (snapped[rows, 47:51] > 0.9).all()  # the subject's stay, up to the photo's edge
    assert (plain[rows, 47:50] < 0.9).all()  # the plain brush would have softened the subject
    np.testing.assert_array_equal(snapped[:, 51:], mask[:, 51:])


# ------------------------------------------------------------------------------------------ regions


def test_erasing_a_region_removes_it_whole_with_its_soft_edge():
    a = np.zeros((30, 40), np.float32)
    a[5:12, 5:12] = 1.0
    a[4, 5:12] = 0.3  # its soft edge
    a[15:28, 20:38] = 1.0  # another region
    out = apply_edits(a, [Edit("erase", ((8 / 40, 8 / 30),), region=True)])
    assert out[3:13, 4:13].max() == 0.0
    np.testing.assert_array_equal(out[15:28, 20:38], a[15:28, 20:38])
    # a click on the background changes nothing
    np.testing.assert_array_equal(apply_edits(a, [Edit("erase", ((0.02, 0.95),), region=True)]), a)


def test_restoring_a_region_takes_it_from_the_network_output():
    network = np.zeros((30, 40), np.float32)
    network[5:12, 5:12] = 0.9
    network[12, 5:12] = 0.4  # soft edge
    network[20:25, 30:35] = 0.9  # something else the network saw
    refined = np.zeros_like(network)  # the refinement dropped both
    out = apply_edits(refined, [Edit("restore", ((8 / 40, 8 / 30),), region=True)], None, network)
    assert (out[5:12, 5:12] == 1.0).all()
    np.testing.assert_allclose(out[12, 5:12], 0.4)
    assert out[20:25, 30:35].max() == 0.0


# ------------------------------------------------------------------------------------------- files


def test_edits_round_trip_through_their_json_file():
    edits = (stroke("erase", 0.02, (0.1, 0.2), (0.3, 0.4)), stroke("restore", 0.05, (0.5, 0.5), snap=False),
             Edit("erase", ((0.9, 0.9),), region=True))
    text = edits_to_json(edits)
    assert json.loads(text)["version"] == 1
    assert parse_edits(text) == edits
    assert parse_edits(text.encode()) == edits
    assert parse_edits(json.loads(text)["edits"]) == edits


@pytest.mark.parametrize("data, message", [
    ("not json", "not valid JSON"),
    ({"version": 2, "edits": []}, "version"),
    ({"edits": []}, "version"),
    ([{"mode": "paint", "radius": 0.1, "points": [[0.5, 0.5]]}], "Edit 1: 'mode' must be 'erase' or 'restore'"),
    ([{"mode": "erase", "radius": 0, "points": [[0.5, 0.5]]}], "'radius'"),
    ([{"mode": "erase", "radius": 0.9, "points": [[0.5, 0.5]]}], "'radius'"),
    ([{"mode": "erase", "radius": 0.1, "points": []}], "'points'"),
    ([{"mode": "erase", "radius": 0.1, "points": [[0.5, "a"]]}], "fractions"),
    ([{"mode": "erase", "radius": 0.1, "points": [[0.5, float("nan")]]}], "fractions"),
    ([{"mode": "erase", "radius": 0.1, "points": [[0.5, 0.5]], "size": 3}], "unknown keys"),
    ([{"mode": "erase", "region": True, "points": [[0.5, 0.5], [0.6, 0.6]]}], "exactly one point"),
    ("[" * 100_000, "not valid JSON"),
    (b"\xff\xfe", "UTF-8"),
])
def test_bad_edit_files_say_what_is_wrong(data, message):
    with pytest.raises(SettingsError, match=message):
        parse_edits(data)


def test_apply_edits_checks_its_inputs():
    a = np.zeros((10, 10), np.float32)
    with pytest.raises(SettingsError, match="parse_edits"):
        apply_edits(a, [{"mode": "erase"}])  # type: ignore[list-item]
    with pytest.raises(SettingsError, match="matte's size"):
        apply_edits(a, [stroke("erase", 0.1, (0.5, 0.5))], np.zeros((5, 10, 3), np.uint8))
