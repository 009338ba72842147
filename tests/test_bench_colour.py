"""Unit tests for bench.colour's pure helpers: hand-computed expectations on tiny images (no model, no data)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.colour import (
    LAWN_GREEN,
    Row,
    colour_error,
    edge_band,
    extend_subject,
    markdown,
    old_background,
    old_kind,
    options,
    partner,
    soft_alpha,
    summary,
    synthesize,
)
from core.composite import Background
from core.finishing import FinishSettings, finish


def test_soft_alpha_without_blur_is_the_mask():
    mask = np.array([[True, False], [False, True]])
    assert soft_alpha(mask, 0.0).tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_soft_alpha_is_quantised_monotone_and_symmetric_across_a_step():
    mask = np.zeros((5, 40), bool)
    mask[:, 20:] = True
    a = soft_alpha(mask, 2.0)
    assert a.dtype == np.float32
    levels = a * 255.0
    assert np.array_equal(levels, np.rint(levels))  # every value is k/255
    row = a[2]
    assert row[0] == 0.0 and row[-1] == 1.0  # far from the edge: untouched
    assert np.all(np.diff(row) >= 0)  # a ramp, no overshoot
    assert 0.0 < row[19] < 0.5 < row[20] < 1.0  # the two pixels that straddle the edge
    for k in range(8):  # a symmetric kernel over a step: a(edge - 1 - k) + a(edge + k) = 1 (to one level)
        assert abs(round(255 * row[19 - k]) + round(255 * row[20 + k]) - 255) <= 1


def test_edge_band_is_strictly_between_zero_and_one():
    alpha = np.array([[0.0, 0.2, 1.0, 1e-3, 0.999]], np.float32)
    assert edge_band(alpha).tolist() == [[False, True, False, True, True]]


def test_extend_subject_copies_the_nearest_subject_pixel():
    photo = np.zeros((1, 5, 3), np.uint8)
    photo[0, :, 0] = [10, 20, 30, 40, 50]
    mask = np.array([[True, True, False, False, False]])
    assert extend_subject(photo, mask)[0, :, 0].tolist() == [10, 20, 20, 20, 20]
    # one subject pixel in the middle: every pixel takes its colour
    photo = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    centre = np.zeros((3, 3), bool)
    centre[1, 1] = True
    out = extend_subject(photo, centre)
    assert (out == photo[1, 1]).all()
    assert np.array_equal(extend_subject(photo, np.zeros((3, 3), bool)), photo)  # no subject: unchanged


def test_synthesize_blends_like_the_app():
    fg = np.full((1, 3, 3), 200, np.uint8)
    bg = np.full((1, 3, 3), 255, np.uint8)
    alpha = np.array([[0.0, 0.5, 1.0]], np.float32)
    # 200 at alpha 0.5 over white: 227.5 rounds half down to 227 (not 177, the premultiplied bug)
    assert synthesize(fg, alpha, bg)[0, :, 0].tolist() == [255, 227, 200]


def test_colour_error_hand_computed():
    truth = np.zeros((1, 2, 3), np.uint8)
    result = np.array([[[0, 0, 0], [10, 20, 30]]], np.uint8)
    assert colour_error(result, truth) == 10.0  # (0 + 0 + 0 + 10 + 20 + 30) / 6
    assert colour_error(result, truth, np.array([[False, True]])) == 20.0
    assert colour_error(truth, result, np.array([[False, True]])) == 20.0  # absolute: no uint8 wrap-around
    assert math.isnan(colour_error(result, truth, np.array([[False, False]])))


def test_old_backgrounds():
    green = old_background("green", (2, 3))
    assert green.shape == (2, 3, 3) and (green == LAWN_GREEN).all()
    grey = np.full((10, 20, 3), 77, np.uint8)
    plate = old_background("photo", (8, 8), grey)  # cover-fitted and blurred: a flat photo stays flat
    assert plate.shape == (8, 8, 3) and (plate == 77).all()
    with pytest.raises(ValueError):
        old_background("photo", (8, 8))
    with pytest.raises(ValueError):
        old_background("sky", (8, 8))


def test_partner_and_old_kind():
    assert [partner(i, 5, 1) for i in range(5)] == [1, 2, 3, 4, 0]
    assert partner(3, 6, 3) == 0
    assert old_kind(0, "alternate") == ["green"] and old_kind(1, "alternate") == ["photo"]
    assert old_kind(1, "both") == ["green", "photo"] and old_kind(4, "photo") == ["photo"]


def test_summary_ignores_nan():
    s = summary([1.0, 2.0, float("nan"), 3.0, 4.0])
    assert s["n"] == 4 and s["mean"] == 2.5 and s["p90"] == pytest.approx(3.7)
    assert summary([float("nan")])["n"] == 0


def test_options_start_from_off_and_include_the_defaults():
    opts = options()
    names = [o.name for o in opts]
    assert len(set(names)) == len(names) and names[0] == "off"
    assert not opts[0].settings.decontaminate
    assert next(o for o in opts if o.name == "defaults").settings == FinishSettings()
    for o in opts:
        want = "change" if (o.settings.harmonize or o.settings.light_wrap) else "error"
        assert o.kind == want, o.name


def test_no_decontamination_error_is_alpha_one_minus_alpha_times_the_contrast():
    # F = 200 grey, old background black, alpha 0.5, new background white: the input is 100, composited
    # as is it gives 0.5*100 + 127.5 = 177.5 -> 177 against the truth 227.5 -> 227: 50 levels, i.e.
    # a(1 - a)|B1 - F| = 0.25 * 200. Decontamination of a flat subject over a flat plate removes nearly all of it.
    size = 48
    mask = np.zeros((size, size), bool)
    mask[12:36, 12:36] = True
    alpha = np.where(mask, 1.0, 0.0).astype(np.float32)
    alpha[11:37, 11] = alpha[11:37, 36] = alpha[11, 11:37] = alpha[36, 11:37] = 0.5  # a one-pixel soft ring
    fg = np.full((size, size, 3), 200, np.uint8)
    image = synthesize(fg, alpha, np.zeros_like(fg))
    white = Background(kind="color", color=(255, 255, 255))
    truth = synthesize(fg, alpha, np.full_like(fg, 255))
    band = edge_band(alpha)
    off = finish(image, alpha, white, FinishSettings(decontaminate=False))
    assert colour_error(off, truth, band) == 50.0
    assert colour_error(off, truth) == pytest.approx(50.0 * band.sum() / band.size)
    assert colour_error(finish(image, alpha, white, FinishSettings()), truth, band) < 5.0


def test_markdown_reports_every_option_from_rows():
    opts = options()
    rows = [Row("a", old, src, new, o.name, 1.0 + k, 0.1, float("nan") if o.name == "defaults" else 0.5, 0.05, 10.0)
            for k, o in enumerate(opts) for src in ("true", "predicted") for new in ("white", "dark", "busy")
            for old in ("green", "photo")]
    extra = {"net_ms": [300.0], "alpha_mae": [0.04], "alpha_mae_band": [0.1], "band_frac": [0.04]}
    text = markdown(rows, extra, "dev", 1, 2.0, "both", "extended", 60.0, ["--limit", "1"])
    assert "python -m bench.colour --limit 1" in text
    for o in opts:
        assert f"| {o.name}" in text or f"| **{o.name}**" in text
    off_row = next(line for line in text.splitlines() if line.startswith("| off: "))
    assert "| 1.00 | 1.00 | 1.00 | **1.00** |" in off_row
