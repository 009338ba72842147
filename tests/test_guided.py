"""Guided filter: exact on constant and linear inputs; guided upsampling follows the photo's edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import SettingsError
from core.guided import box_mean, guided_filter, guided_upsample


def test_box_mean_is_the_window_average_with_replicated_borders():
    x = np.arange(5, dtype=np.float32)[None, :].repeat(3, 0)
    # radius 1: [0,0,1] -> 1/3, [0,1,2] -> 1, [1,2,3] -> 2, [2,3,4] -> 3, [3,4,4] -> 11/3
    np.testing.assert_allclose(box_mean(x, 1)[1], [1 / 3, 1, 2, 3, 11 / 3], rtol=1e-6)


def test_guided_filter_keeps_a_source_that_is_a_linear_function_of_the_guide():
    rng = np.random.default_rng(0)
    guide = rng.random((30, 40, 3), dtype=np.float32)
    source = (0.2 * guide[..., 0] + 0.5 * guide[..., 2] + 0.1).astype(np.float32)
    np.testing.assert_allclose(guided_filter(guide, source, 3, 1e-8), source, atol=1e-3)
    constant = np.full((30, 40), 0.7, np.float32)
    np.testing.assert_allclose(guided_filter(guide, constant, 3, 1e-3), constant, atol=1e-5)


def test_guided_upsampling_of_a_step_edge_follows_the_photo_not_the_320_grid():
    photo = np.zeros((1000, 1000, 3), np.uint8)
    photo[:, :503] = (30, 60, 40)
    photo[:, 503:] = (230, 200, 180)  # the subject's edge at x = 503, between two 320-grid cells
    truth = np.zeros((1000, 1000), np.float32)
    truth[:, 503:] = 1.0
    prediction = cv2.resize(truth, (320, 320), interpolation=cv2.INTER_AREA)
    bilinear = cv2.resize(prediction, (1000, 1000), interpolation=cv2.INTER_LINEAR)
    guided = guided_upsample(prediction, photo, radius_pct=1.0, eps=1e-3)
    row_b, row_g = bilinear[500], guided[500]
    # plain interpolation smears the edge over several pixels around 503 ...
    assert 0.2 < row_b[502] < 0.8 and 0.2 < row_b[503] < 0.8
    # ... the guided result jumps exactly where the photo does
    assert row_g[502] < 0.1 and row_g[503] > 0.9
    assert row_g[:500].max() < 0.1 and row_g[506:].min() > 0.9
    assert guided.dtype == np.float32 and guided.min() >= 0.0 and guided.max() <= 1.0


def test_fast_guided_upsampling_on_a_reduced_guide_stays_close_to_the_full_one():
    rng = np.random.default_rng(1)
    photo = cv2.resize(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), (800, 600), interpolation=cv2.INTER_NEAREST)
    prediction = cv2.resize((photo[..., 0] > 128).astype(np.float32), (320, 320), interpolation=cv2.INTER_AREA)
    full = guided_upsample(prediction, photo, guide_pixels=10**9)
    fast = guided_upsample(prediction, photo, guide_pixels=120_000)
    assert np.abs(full - fast).mean() < 0.02


def test_bad_inputs_are_clear_errors():
    with pytest.raises(SettingsError, match="uint8 HxWx3"):
        guided_upsample(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32))
    with pytest.raises(SettingsError, match="radius"):
        guided_filter(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), 0, 1e-3)
