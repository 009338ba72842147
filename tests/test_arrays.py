"""Unit tests for core.arrays: the shared input checks, size conversion and the symmetric 3×3 inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.arrays import (
    as_alpha,
    check_alpha_matches,
    check_fraction,
    check_image,
    check_number,
    check_pixels,
    check_size,
    is_number,
    pixels_from_pct,
    sym3_inverse,
)
from core.errors import SettingsError


def test_pixels_from_pct_uses_long_side():
    assert pixels_from_pct(0.5, (600, 800)) == pytest.approx(4.0)
    assert pixels_from_pct(0.5, (6000, 8000)) == pytest.approx(40.0)
    assert pixels_from_pct(0.5, (800, 600, 3)) == pytest.approx(4.0)  # portrait, with channels
    assert pixels_from_pct(0.0, (600, 800)) == 0.0
    with pytest.raises(SettingsError, match="image shape"):
        pixels_from_pct(1.0, (5,))


def test_numbers_exclude_bools():
    assert is_number(1) and is_number(np.float32(0.5)) and not is_number(True) and not is_number("1")
    assert check_number(2, "x") == 2.0
    assert check_number(-3.0, "x", lo=-math.inf) == -3.0
    with pytest.raises(SettingsError, match="must be a number"):
        check_number(True, "x")
    with pytest.raises(SettingsError, match="> 0"):
        check_number(0.0, "x", lo=0.0, lo_open=True)
    with pytest.raises(SettingsError, match=">= 0"):
        check_number(float("nan"), "x")
    assert check_fraction(1, "f") == 1.0
    with pytest.raises(SettingsError, match="between 0 and 1"):
        check_fraction(1.5, "f")


def test_pixel_counts_and_sizes_are_whole_numbers():
    assert check_pixels(np.int64(3), "n") == 3
    for bad in (0, 2.0, True):
        with pytest.raises(SettingsError, match="whole number"):
            check_pixels(bad, "n")
    assert check_size([4, 5]) == (4, 5)
    for bad in ((4,), (0, 3), (2.0, 3), "4x5"):
        with pytest.raises(SettingsError, match="height, width"):
            check_size(bad)


def test_as_alpha_copies_converts_and_clips_round_off():
    a = np.array([[-1e-6, 0.5, 1 + 1e-6]], np.float64)
    out = as_alpha(a)
    assert out.dtype == np.float32 and out.tolist() == [[0.0, 0.5, 1.0]]
    assert out is not a
    with pytest.raises(SettingsError, match="/ 255"):
        as_alpha(np.zeros((2, 2), np.uint8))
    with pytest.raises(SettingsError, match=r"\[0, 1\]"):
        as_alpha(np.full((2, 2), 1.5, np.float32))
    with pytest.raises(SettingsError, match="single-channel"):
        as_alpha(np.zeros((2, 2, 1), np.float32))


def test_image_checks_say_what_to_pass():
    image = np.zeros((3, 4, 3), np.uint8)
    assert check_image(image, "photo") is image
    with pytest.raises(SettingsError, match="photo must have dtype uint8"):
        check_image(image.astype(np.float32), "photo")
    with pytest.raises(SettingsError, match="HxWx4"):
        check_image(image, "rgba", channels=(4,))
    assert check_alpha_matches(np.zeros((3, 4), np.float32), image).shape == (3, 4)
    with pytest.raises(SettingsError, match="resize the matte"):
        check_alpha_matches(np.zeros((4, 3), np.float32), image)


def test_sym3_inverse_matches_numpy_on_regularised_covariances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3, 8))
    cov = np.einsum("nik,njk->nij", x, x) / 8 + 1e-3 * np.eye(3)
    cofactors, det = sym3_inverse(cov[:, 0, 0], cov[:, 0, 1], cov[:, 0, 2], cov[:, 1, 1], cov[:, 1, 2], cov[:, 2, 2])
    c_rr, c_rg, c_rb, c_gg, c_gb, c_bb = cofactors
    adjugate = np.stack([np.stack([c_rr, c_rg, c_rb], -1), np.stack([c_rg, c_gg, c_gb], -1),
                         np.stack([c_rb, c_gb, c_bb], -1)], -2)
    np.testing.assert_allclose(det, np.linalg.det(cov), rtol=1e-10)
    np.testing.assert_allclose(adjugate / det[:, None, None], np.linalg.inv(cov), rtol=1e-8, atol=1e-8)
