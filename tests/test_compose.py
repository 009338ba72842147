"""core.compose: the final picture's pieces on tiny arrays (framing and ID photos have their own tests)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.compose import OutputSettings, Picture, compose, encode_picture, hide_transparent_colours
from core.composite import Background
from core.errors import SettingsError
from core.framing import FrameSettings


def test_hidden_colours_are_cleared_only_where_alpha_is_zero():
    rgba = np.array([[[10, 20, 30, 0], [40, 50, 60, 1], [70, 80, 90, 255]]], np.uint8)
    np.testing.assert_array_equal(hide_transparent_colours(rgba), [[[0, 0, 0, 0], [40, 50, 60, 1], [70, 80, 90, 255]]])
    view = np.tile(rgba, (3, 2, 1))[::2, ::-1]  # not contiguous: still answered, and like numpy's indexing
    expected = view.copy()
    expected[view[..., 3] == 0, :3] = 0
    np.testing.assert_array_equal(hide_transparent_colours(view), expected)
    for pixel in rgba[0]:  # one-pixel pictures too (OpenCV takes a 1x1 array for a scalar in some calls)
        expected = pixel * (pixel[3] != 0)
        np.testing.assert_array_equal(hide_transparent_colours(pixel[None, None]), expected[None, None])
    assert rgba[0, 0, 0] == 10  # the input is not modified


def test_encode_picture_clears_hidden_colours_unless_asked_and_writes_the_dpi():
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[1:3, 1:4, 3] = 255
    for keep, hidden in ((False, 0), (True, 200)):
        data = encode_picture(Picture(rgba, dpi=300.0), "png", OutputSettings(keep_hidden_colours=keep))
        with Image.open(io.BytesIO(data)) as img:
            pixels = np.asarray(img)
            assert img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert (pixels[0, 0] == [hidden, hidden, hidden, 0]).all() and (pixels[1, 1] == [200, 200, 200, 255]).all()
    grey = encode_picture(Picture(np.full((3, 3), 7, np.uint8)), "png")  # a mask has no colours to clear
    assert np.asarray(Image.open(io.BytesIO(grey))).tolist() == [[7] * 3] * 3


def test_compose_without_framing_keeps_the_photo_size_and_its_dpi():
    image = np.full((6, 4, 3), 100, np.uint8)
    alpha = np.zeros((6, 4), np.float32)
    alpha[2:5, 1:3] = 1
    picture = compose(image, alpha, "composite", Background(kind="color", color=(0, 0, 255)), source_dpi=(240.0, 240.0))
    assert picture.pixels.shape == (6, 4, 3) and picture.dpi == (240.0, 240.0) and picture.notes == ()
    assert compose(image, alpha, "mask").pixels.tolist() == (alpha * 255).astype(np.uint8).tolist()
    assert compose(image, alpha, "cutout").pixels.shape == (6, 4, 4)
    with pytest.raises(SettingsError, match="choose mask, cutout or composite"):
        compose(image, alpha, "thumbnail")


def test_a_print_size_sets_the_dpi_and_a_print_sheet_needs_a_result():
    image = np.full((60, 40, 3), 100, np.uint8)
    alpha = np.zeros((60, 40), np.float32)
    alpha[10:50, 10:30] = 1
    framed = compose(image, alpha, "mask", frame=FrameSettings(frame=True, size="0.5x0.5in", dpi=100), source_dpi=(72.0, 72.0))
    assert framed.pixels.shape == (50, 50) and framed.dpi == 100
    sheet = FrameSettings(id_photo="passport-35x45", print_sheet=True)
    for kind, background in (("cutout", None), ("composite", Background(kind="transparent"))):
        with pytest.raises(SettingsError, match="print sheet is printed"):
            compose(image, alpha, kind, background, frame=sheet)
