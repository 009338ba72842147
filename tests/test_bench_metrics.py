"""Unit tests for bench.metrics: hand-computed expectations on tiny masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics import (
    GroundTruth,
    binarize,
    boundary,
    boundary_f,
    distance_to,
    iou,
    mae,
    score,
)


def _mask(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[rows, cols] = True
    return m


# GT: a 3x3 square in the middle of a 5x5 frame; prediction: the same square shifted one pixel right,
# so it touches the right edge of the frame.
GT = _mask((5, 5), slice(1, 4), slice(1, 4))
PRED = _mask((5, 5), slice(1, 4), slice(2, 5))


def test_binarize_at_half():
    assert binarize(np.array([[0.0, 0.49, 0.5, 1.0]])).tolist() == [[False, False, True, True]]


def test_iou_hand_computed():
    assert iou(PRED, GT) == pytest.approx(6 / 12)  # 6 shared pixels, 12 in the union
    assert iou(GT, GT) == 1.0
    empty = np.zeros((5, 5), bool)
    assert iou(empty, empty) == 1.0
    assert iou(empty, GT) == 0.0


def test_boundary_is_ring_and_ignores_frame_edge():
    ring = GT.copy()
    ring[2, 2] = False  # a 3x3 square eroded by a cross keeps only its centre
    assert boundary(GT).tolist() == ring.tolist()
    # PRED touches the frame on the right: the column at the frame edge is not boundary there,
    # except at its top and bottom corner, which border the background above / below.
    expected = np.zeros((5, 5), bool)
    for r, c in [(1, 2), (1, 3), (1, 4), (2, 2), (3, 2), (3, 3), (3, 4)]:
        expected[r, c] = True
    assert boundary(PRED).tolist() == expected.tolist()
    full = np.ones((4, 4), bool)
    assert not boundary(full).any()  # a mask filling the frame has no boundary


def test_distance_is_exact_euclidean():
    point = np.zeros((7, 7), bool)
    point[3, 3] = True
    d = distance_to(point)
    assert d[3, 3] == 0.0
    assert d[3, 6] == pytest.approx(3.0, abs=1e-4)
    assert d[5, 5] == pytest.approx(math.sqrt(8), abs=1e-4)
    assert d[6, 6] == pytest.approx(math.sqrt(18), abs=1e-4)
    assert np.isinf(distance_to(np.zeros((3, 3), bool))).all()


def test_boundary_f_hand_computed():
    # tol 0: 4 of the 7 predicted boundary pixels lie on the 8-pixel GT ring, and 4 of the 8 ring pixels
    # on the predicted boundary: P = 4/7, R = 4/8, F = 2PR/(P+R) = 8/15.
    assert boundary_f(PRED, GT, tol=0) == pytest.approx(8 / 15)
    # tol 1: every boundary pixel of either mask is within 1 px of the other's.
    assert boundary_f(PRED, GT, tol=1) == pytest.approx(1.0)
    assert boundary_f(GT, GT, tol=0) == 1.0


def test_boundary_f_tolerance_is_euclidean():
    gt = np.zeros((9, 9), bool)
    gt[0:4, 0:4] = True  # boundary: row 3 and column 3 (cols/rows 0..3)
    near = np.zeros((9, 9), bool)
    near[0:6, 0:6] = True  # boundary two pixels further out (row 5, col 5): 2 px, corner 2*sqrt(2) px
    assert boundary_f(near, gt, tol=2.9) == pytest.approx(1.0)
    assert boundary_f(near, gt, tol=1.9) == 0.0
    # corner (5, 5) is 2.83 px from (3, 3): within 2.9, not within 2.8 -> one pixel of 11 misses
    p = 10 / 11  # predicted boundary: 6 + 6 - 1 = 11 pixels, all but the corner within 2.8
    r = 1.0  # every GT boundary pixel (7) has a predicted one exactly 2 px away
    assert boundary_f(near, gt, tol=2.8) == pytest.approx(2 * p * r / (p + r))


def test_boundary_f_empty_cases():
    empty = np.zeros((5, 5), bool)
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(empty, GT) == 0.0
    assert boundary_f(GT, empty) == 0.0


def test_mae_hand_computed():
    alpha = np.array([[0.25, 1.0], [0.5, 0.0]], dtype=np.float32)
    gt = np.array([[False, True], [True, True]])
    assert mae(alpha, gt) == pytest.approx((0.25 + 0.0 + 0.5 + 1.0) / 4)


def test_score_binarises_and_uses_precomputed_truth():
    alpha = PRED.astype(np.float32) * 0.6  # 0.6 >= 0.5: same binary mask as PRED
    s = score(alpha, GroundTruth.from_mask(GT), tol=0)
    assert s["iou"] == pytest.approx(0.5)
    assert s["bf"] == pytest.approx(8 / 15)
    # |0.6 - 1| on 6 shared pixels, 0.6 on 3 false positives, 1 on 3 misses, over 25 pixels
    assert s["mae"] == pytest.approx((6 * 0.4 + 3 * 0.6 + 3 * 1.0) / 25)
    with pytest.raises(ValueError):
        score(np.zeros((4, 4), np.float32), GroundTruth.from_mask(GT))
