"""Colour decontamination on a synthetic edge with known foreground, alpha ramp and background."""

from __future__ import annotations

import numpy as np
import pytest

from core.composite import blend
from core.errors import SettingsError
from core.foreground import decontaminate, estimate_foreground

SUBJECT = np.array([200, 60, 40], np.float32)  # known foreground colour
OLD_BACKGROUND = np.array([20, 200, 40], np.float32)  # a green lawn
NEW_BACKGROUND = np.array([0, 0, 255], np.float32)
EDGE_ERROR_BOUND = 3.0  # mean absolute error in 8-bit levels, over the soft edge band


def _scene(height: int = 600, width: int = 800, ramp: int = 12):
    """Photo = αF + (1−α)B with a soft vertical edge ramp of `ramp` pixels in the middle."""
    x = np.arange(width, dtype=np.float32)
    alpha = np.tile(np.clip((width / 2 + ramp / 2 - x) / ramp, 0, 1), (height, 1)).astype(np.float32)
    photo = alpha[..., None] * SUBJECT + (1 - alpha[..., None]) * OLD_BACKGROUND
    return np.clip(np.ceil(photo - 0.5), 0, 255).astype(np.uint8), alpha


def test_decontamination_removes_the_old_background_from_the_edge():
    photo, alpha = _scene()
    band = (alpha > 0) & (alpha < 1)
    new = np.broadcast_to(NEW_BACKGROUND, photo.shape).astype(np.uint8).copy()
    truth = alpha[..., None] * SUBJECT + (1 - alpha[..., None]) * NEW_BACKGROUND
    error_plain = np.abs(blend(photo, alpha, new) - truth)[band].mean()
    error_clean = np.abs(blend(decontaminate(photo, alpha), alpha, new) - truth)[band].mean()
    assert error_clean < EDGE_ERROR_BOUND
    assert error_clean * 3 <= error_plain  # at least 3x smaller than without decontamination


def test_only_the_soft_band_changes_and_strength_zero_is_the_identity():
    photo, alpha = _scene()
    cleaned = decontaminate(photo, alpha)
    solid = (alpha == 0) | (alpha == 1)
    np.testing.assert_array_equal(cleaned[solid], photo[solid])
    np.testing.assert_array_equal(decontaminate(photo, alpha, strength=0.0), photo)
    half = decontaminate(photo, alpha, strength=0.5).astype(int)
    band = (alpha > 0) & (alpha < 1)
    assert np.all(np.abs(half[band] - (photo[band] + cleaned[band].astype(int)) / 2) <= 1)


def test_estimated_foreground_is_the_subject_colour_in_the_band():
    photo, alpha = _scene()
    estimate = estimate_foreground(photo, alpha) * 255
    band = (alpha > 0) & (alpha < 1)
    # F is ill-conditioned where alpha is small, and shows in a composite only in proportion to alpha:
    # weight the error accordingly (what reaches the image).
    weighted = (alpha[band][:, None] * np.abs(estimate[band] - SUBJECT)).mean()
    assert weighted < EDGE_ERROR_BOUND / 2
    assert np.abs(estimate[alpha == 1] - SUBJECT).max() <= 0.5  # solid subject pixels are the photo


def test_reduced_resolution_statistics_match_the_full_computation(monkeypatch):
    photo, alpha = _scene(1200, 1600, 16)
    band = (alpha > 0) & (alpha < 1)
    full = estimate_foreground(photo, alpha, work_pixels=10**9)
    fast = estimate_foreground(photo, alpha, work_pixels=300_000)
    assert np.abs(full - fast)[band].mean() * 255 < 1.0


def test_invalid_strength_or_shapes_are_clear_errors():
    photo, alpha = _scene(20, 30, 4)
    with pytest.raises(SettingsError, match="strength"):
        decontaminate(photo, alpha, strength=1.5)
    with pytest.raises(SettingsError, match="match"):
        decontaminate(photo, alpha[:10])


def test_edge_band_is_what_an_8_bit_output_shows_as_partly_transparent():
    from core.foreground import edge_band

    alpha = np.array([[0.0, 0.4 / 255, 0.6 / 255, 0.5, 254.4 / 255, 254.6 / 255, 1.0 - 1e-7, 1.0]], np.float32)
    assert edge_band(alpha).tolist() == [[False, False, True, True, True, False, False, False]]


def test_float_round_off_just_under_one_is_left_as_the_photo():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    alpha = np.full((6, 6), np.float32(1.0) - np.float32(6e-8), np.float32)  # a blurred 1.0, not quite 1
    alpha[:, :2] = 0.0
    np.testing.assert_array_equal(decontaminate(image, alpha), image)


def _dense_blur_fusion(photo: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Forte and Pitié's two passes over every pixel, written out plainly: the reference for the shortcuts."""
    import cv2

    from core.foreground import LARGE_RADIUS_PCT, SMALL_RADIUS_PCT

    def box(x, r):
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REPLICATE)

    image, a = photo.astype(np.float32) / 255.0, alpha[..., None]
    large = max(1, round(LARGE_RADIUS_PCT / 100 * max(alpha.shape)))
    fine = max(1, round(SMALL_RADIUS_PCT / 100 * max(alpha.shape)))
    blurred = box(alpha, large)[..., None]
    mean_fg = box(image * a, large) / (blurred + 1e-5)
    mean_bg = box(image * (1 - a), large) / ((1 - blurred) + 1e-5)
    first = np.clip(mean_fg + a * (image - a * mean_fg - (1 - a) * mean_bg), 0, 1)
    mean_fg = box(first * a, fine) / (box(alpha, fine)[..., None] + 1e-5)
    return np.clip(mean_fg + a * (image - a * mean_fg - (1 - a) * mean_bg), 0, 1)


def test_the_second_pass_over_soft_pixels_only_equals_the_dense_computation(monkeypatch):
    import core.foreground

    monkeypatch.setattr(core.foreground, "COARSE_RADIUS", 10**6)  # the first pass at full size, as the reference
    photo, alpha = _scene(120, 160, 10)
    photo[:, :, 2] = np.arange(160, dtype=np.uint8)[None, :]  # colours that vary, so the windows differ
    band = (alpha > 0) & (alpha < 1)
    np.testing.assert_allclose(estimate_foreground(photo, alpha)[band], _dense_blur_fusion(photo, alpha)[band], atol=1e-5)


def test_the_coarse_first_pass_stays_within_a_fraction_of_a_level(monkeypatch):
    import core.foreground

    photo, alpha = _scene(600, 800, 12)
    photo[:, :, 2] = (np.arange(800) * 255 // 799).astype(np.uint8)[None, :]
    band = (alpha > 0) & (alpha < 1)
    coarse = estimate_foreground(photo, alpha)
    monkeypatch.setattr(core.foreground, "COARSE_RADIUS", 10**6)
    full = estimate_foreground(photo, alpha)
    assert np.abs(coarse - full)[band].mean() * 255 < 0.1
