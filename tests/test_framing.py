"""core.framing: the subject's box, canvas sizes, margins, anchors and the never-stretched placement."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import PortraitStudioError, SettingsError
from core.framing import (
    Box, FrameSettings, apply_placement, canvas_size, frame_subject, parse_aspect, parse_size, place_subject,
    size_in_pixels, subject_box,
)


def matte(shape=(100, 80), rows=(20, 60), cols=(30, 50)) -> np.ndarray:
    a = np.zeros(shape, np.float32)
    a[rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return a


def box_at(alpha: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero((alpha > threshold).any(1)), np.flatnonzero((alpha > threshold).any(0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def framed(alpha: np.ndarray, **settings) -> np.ndarray:
    placement = frame_subject(FrameSettings(frame=True, **settings), alpha)
    return apply_placement(np.zeros(alpha.shape + (3,), np.uint8), alpha, placement)[1]


# --- the subject's box ------------------------------------------------------------------------------


def test_box_ignores_faint_pixels():
    a = matte()
    a[2, 2] = a[95, 75] = 0.01  # a wisp and haze far away
    a[10, 40] = 0.1  # at the threshold: still faint
    assert subject_box(a) == Box(20, 30, 60, 50)
    a[10, 40] = 0.2
    assert subject_box(a) == Box(10, 30, 60, 50)


def test_box_of_an_empty_matte_is_none_and_framing_it_says_so():
    assert subject_box(np.zeros((5, 5), np.float32)) is None
    with pytest.raises(PortraitStudioError, match="mask is empty"):
        frame_subject(FrameSettings(frame=True), np.zeros((5, 5), np.float32))


def test_sides_on_the_photo_edge_are_cut_and_extended_to_it():
    a = matte(rows=(20, 99), cols=(1, 50))  # a bust: ends one row above the bottom, one column from the left
    assert subject_box(a) == Box(20, 0, 100, 50, frozenset({"bottom", "left"}))


# --- canvas sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aspect, size, dpi, expected",
    [
        ("original", "35x45mm", 600, (1063, 827)),  # 35 / 25.4 * 600 = 826.8, 45 / 25.4 * 600 = 1063.0
        ("original", "35x45mm", 300, (531, 413)),
        ("3:4", "35x45mm", 300, None),  # 35:45 is 7:9, not 3:4
        ("original", "2x2in", 300, (600, 600)),
        ("1:1", "2x2in", 600, (1200, 1200)),
        ("original", "2000x2000", 72, (2000, 2000)),
        ("1:1", "2000x2000", 300, (2000, 2000)),
        ("4:5", "1080x1350", 300, (1350, 1080)),
        ("16:9", "1920x1080", 300, (1080, 1920)),
        ("1:1", "2000x1000", 300, None),
        ("4:5", "1080x1080", 300, None),
        # Without a size: the subject (40x20 px here) at scale 1 inside 10 % margins.
        ("1:1", "", 300, (50, 50)),  # 40 / 0.8
        ("4:5", "", 300, (50, 40)),
        ("16:9", "", 300, (50, 89)),  # 50 * 16 / 9 = 88.9
        ("2:3", "", 300, (50, 33)),  # height 40 / 0.8 = 50 beats 20 / 0.8 / (2 / 3) = 37.5; width 33.3
        ("original", "", 300, (50, 40)),  # the photo's 80:100
        ("3:1", "", 300, (50, 150)),
    ],
)
def test_canvas_size(aspect, size, dpi, expected):
    if expected is None:
        with pytest.raises(SettingsError, match="give one of them"):
            FrameSettings(frame=True, aspect=aspect, size=size, dpi=dpi, margin_pct=10)
    else:
        settings = FrameSettings(frame=True, aspect=aspect, size=size, dpi=dpi, margin_pct=10)
        assert canvas_size(settings, (100, 80), Box(20, 30, 60, 50)) == expected


def test_a_wide_subject_sets_the_height_of_an_automatic_canvas():
    settings = FrameSettings(frame=True, aspect="1:1", margin_pct=10)
    assert canvas_size(settings, (100, 200), Box(20, 10, 40, 170)) == (200, 200)  # 160 / 0.8


@pytest.mark.parametrize("text, normal", [("4:5", "4:5"), (" 16 : 9 ", "16:9"), ("1.910:1", "1.91:1"), ("ORIGINAL", "original")])
def test_parse_aspect(text, normal):
    assert parse_aspect(text) == normal


@pytest.mark.parametrize("text", ["4-5", "0:5", "wide", "4:", ""])
def test_parse_aspect_refuses(text):
    with pytest.raises(SettingsError, match="W:H"):
        parse_aspect(text)


@pytest.mark.parametrize(
    "text, normal, pixels",
    [("2000x2000", "2000x2000", (2000, 2000)), ("35x45mm", "35x45mm", (1063, 827)), ("35 × 45 MM", "35x45mm", (1063, 827)),
     ("2x2in", "2x2in", (1200, 1200)), ("1080X1350px", "1080x1350", (1350, 1080)), ("  ", "", None)],
)
def test_parse_size(text, normal, pixels):
    assert parse_size(text) == normal
    assert size_in_pixels(normal, 600) == pixels


@pytest.mark.parametrize("text", ["2000", "20.5x30", "0x10", "35x45cm", "99999x10"])
def test_parse_size_refuses(text):
    with pytest.raises(SettingsError):
        parse_size(text)


def test_settings_name_the_field_and_the_fix():
    with pytest.raises(SettingsError, match="Setting 'aspect'.*W:H"):
        FrameSettings(aspect="square")
    with pytest.raises(SettingsError, match="Setting 'anchor'.*center, bottom"):
        FrameSettings(anchor="top")
    with pytest.raises(SettingsError, match="print sheet"):
        FrameSettings(print_sheet=True)
    assert FrameSettings(anchor="BOTTOM", size="35X45MM").to_dict()["anchor"] == "bottom"


# --- placement: margins, anchors, never stretched -----------------------------------------------------


def test_margins_within_one_pixel_when_enlarged():
    out = framed(matte(), size="200x200", margin_pct=10)  # 40x20 subject → scale 4 → 160x80, centred
    assert out.shape == (200, 200)
    top, left, bottom, right = box_at(out)
    assert abs(top - 20) <= 1 and abs(bottom - 180) <= 1 and abs(left - 60) <= 1 and abs(right - 140) <= 1


def test_margins_within_one_pixel_when_shrunk():
    a = matte((1000, 800), rows=(100, 700), cols=(200, 500))  # 600x300
    out = framed(a, size="300x200", margin_pct=5)  # scale min(180/600, 270/300) = 0.3 → 180x90
    top, left, bottom, right = box_at(out)
    assert abs(top - 10) <= 1 and abs(bottom - 190) <= 1 and abs(left - 105) <= 1 and abs(right - 195) <= 1


def test_at_its_own_size_the_subject_is_moved_not_resampled():
    a = matte()
    a[30, 35] = 0.37
    out = framed(a, aspect="1:1", margin_pct=10)
    assert out.shape == (50, 50)
    np.testing.assert_array_equal(out[5:45, 15:35], a[20:60, 30:50])
    assert out.sum() == pytest.approx(a.sum())


@pytest.mark.parametrize("size", ["300x100", "100x300", "257x131", "1080x1350"])
def test_never_stretched(size):
    a = matte((300, 300), rows=(50, 250), cols=(100, 160))  # 200x60
    top, left, bottom, right = box_at(framed(a, size=size, margin_pct=7))
    assert (bottom - top) / (right - left) == pytest.approx(200 / 60, rel=0.03)


def test_centre_anchor_centres_and_bottom_anchor_stands_on_the_edge():
    a = matte((300, 300), rows=(50, 250), cols=(100, 160))
    top, left, bottom, right = box_at(framed(a, size="300x300", margin_pct=10))  # height-limited: 240 tall
    assert (top, bottom) == (30, 270) and abs(left - (300 - right)) <= 1
    wide = matte((300, 300), rows=(100, 160), cols=(20, 280))  # 60x260: width-limited on a square
    top, left, bottom, right = box_at(framed(wide, size="300x300", margin_pct=10))
    assert abs(top - (300 - bottom)) <= 1  # floats in the middle
    top, left, bottom, right = box_at(framed(wide, size="300x300", margin_pct=10, anchor="bottom"))
    assert bottom == 300 and abs(left - 30) <= 1 and abs(right - 270) <= 1


def test_a_bust_cut_by_the_photo_stays_on_the_canvas_edge():
    bust = matte((100, 100), rows=(30, 100), cols=(25, 75))  # cut by the bottom edge
    out = framed(bust, size="200x400", margin_pct=10)
    top, left, bottom, right = box_at(out)
    # Width-limited: scale (200 - 2 * 20) / 50 = 3.2, so 224 px tall, standing on the bottom edge (no margin there).
    assert bottom == 400 and abs(top - 176) <= 1 and abs(left - 20) <= 1 and abs(right - 180) <= 1


def test_the_photo_beyond_its_edges_is_background():
    image = np.full((100, 80, 3), 77, np.uint8)
    placement = frame_subject(FrameSettings(frame=True, size="400x400", margin_pct=0), matte())
    canvas_image, canvas_alpha = apply_placement(image, matte(), placement)
    assert canvas_image.shape == (400, 400, 3) and (canvas_image == 77).all()  # the edge repeats: no black
    assert canvas_alpha[0, 0] == 0 and canvas_alpha[200, 200] == 1


def test_place_subject_is_a_uniform_scale_and_shift():
    p = place_subject(FrameSettings(frame=True, size="200x200", margin_pct=10), (100, 80), Box(20, 30, 60, 50))
    assert p.scale == 4.0 and p.canvas == (200, 200)
    assert (p.scale * 20 + p.shift_y, p.scale * 30 + p.shift_x) == (20.0, 60.0)
