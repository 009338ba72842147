"""Mask quality metrics as pure functions: IoU, boundary F-score with a pixel tolerance, MAE.

Conventions: a prediction is an alpha matte (float HxW in [0, 1]) binarised at 0.5 (``alpha >= 0.5``);
ground truth is a boolean HxW mask. A mask's boundary is the mask minus its erosion by a 3x3 cross
(4-connected inner boundary); pixels outside the frame count as continuing the edge pixel, so the
image border is never a boundary. Boundary F with tolerance ``tol`` px: precision is the fraction of
predicted boundary pixels within ``tol`` px (Euclidean) of a ground-truth boundary pixel, recall the
fraction of ground-truth boundary pixels within ``tol`` px of a predicted one, F = 2PR / (P + R).
Empty cases: two empty masks (or two empty boundaries) score 1, one empty against a non-empty one 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "GroundTruth",
    "binarize",
    "boundary",
    "boundary_f",
    "distance_to",
    "iou",
    "mae",
    "score",
]

THRESHOLD = 0.5
TOLERANCE_PX = 3.0
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def binarize(alpha: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """alpha float HxW in [0, 1] -> bool HxW, True where alpha >= threshold."""
    return np.asarray(alpha) >= threshold


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two bool HxW masks; 1.0 when both are empty."""
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def boundary(mask: np.ndarray) -> np.ndarray:
    """bool HxW mask -> bool HxW inner boundary: mask XOR its erosion by a 3x3 cross (frame edge excluded)."""
    m = mask.astype(np.uint8)
    eroded = cv2.erode(m, _CROSS, borderType=cv2.BORDER_REPLICATE)
    return (m ^ eroded).astype(bool)


def distance_to(points: np.ndarray) -> np.ndarray:
    """bool HxW -> float32 HxW exact Euclidean distance of every pixel to the nearest True pixel (inf if none)."""
    if not points.any():
        return np.full(points.shape, np.inf, dtype=np.float32)
    return cv2.distanceTransform((~points).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _boundary_f_from(pred_b: np.ndarray, gt_b: np.ndarray, gt_dist: np.ndarray, tol: float) -> tuple[float, float, float]:
    """(precision, recall, F) of boundary maps, given the distance map to the GT boundary."""
    n_pred, n_gt = int(np.count_nonzero(pred_b)), int(np.count_nonzero(gt_b))
    if n_pred == 0 and n_gt == 0:
        return 1.0, 1.0, 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0, 0.0, 0.0
    precision = np.count_nonzero(gt_dist[pred_b] <= tol) / n_pred
    recall = np.count_nonzero(distance_to(pred_b)[gt_b] <= tol) / n_gt
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return float(precision), float(recall), float(f)


def boundary_f(pred: np.ndarray, gt: np.ndarray, tol: float = TOLERANCE_PX) -> float:
    """Boundary F-score of two bool HxW masks with a tolerance of `tol` pixels (Euclidean)."""
    gt_b = boundary(gt)
    return _boundary_f_from(boundary(pred), gt_b, distance_to(gt_b), tol)[2]


def mae(alpha: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error between a float alpha in [0, 1] and a bool mask (as 0/1)."""
    return float(np.abs(np.asarray(alpha, dtype=np.float32) - gt.astype(np.float32)).mean())


@dataclass(frozen=True)
class GroundTruth:
    """A ground-truth mask with its boundary and boundary distance map precomputed (scored many times)."""

    mask: np.ndarray
    edge: np.ndarray
    edge_distance: np.ndarray

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> GroundTruth:
        """Precompute boundary and distance map of a bool HxW mask."""
        mask = np.asarray(mask, dtype=bool)
        edge = boundary(mask)
        return cls(mask, edge, distance_to(edge))


def score(alpha: np.ndarray, gt: GroundTruth, tol: float = TOLERANCE_PX) -> dict[str, float]:
    """Alpha float HxW in [0, 1] against ground truth -> {'iou', 'bf', 'mae'} (prediction binarised at 0.5)."""
    if alpha.shape != gt.mask.shape:
        raise ValueError(f"prediction shape {alpha.shape} differs from ground truth {gt.mask.shape}")
    pred = binarize(alpha)
    bf = _boundary_f_from(boundary(pred), gt.edge, gt.edge_distance, tol)[2]
    return {"iou": iou(pred, gt.mask), "bf": bf, "mae": mae(alpha, gt.mask)}
