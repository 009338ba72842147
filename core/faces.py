"""Face detection for ID-photo framing: MediaPipe BlazeFace on OpenCV's DNN; eyes, nose, mouth and an estimated chin.

Contract: ``detect_faces(image)`` takes a uint8 HxWx3 RGB photo and returns every face scoring at least
``min_score`` as a ``Face``, best score first ([] when there is none). All coordinates are photo pixels,
continuous: origin at the photo's top-left corner, x to the right, y down, so pixel (col, row) covers
[col, col+1) x [row, row+1). Boxes and points may lie outside the photo when a face is cut by its edge.
"Right eye" is the subject's right eye, on the image's left in a frontal photo. Bad input raises
``SettingsError``; missing or corrupt weights raise ``WeightsError``. Inputs are never modified.

Why this model and these settings (all measured; numbers in the face-detector report):
- Network: MediaPipe BlazeFace "back" (``core/bundled_weights/blazeface_back_256.onnx``, 256x256 input), not
  the 128 "front" model: it finds the small faces of group and full-body photos that the front model misses,
  scores big faces (a face box filling 15 %-85 % of the frame) at 0.75 or more, and its false positives score
  lower.
- Input: the photo is letterboxed (centred on a black square, aspect kept) and resized to 256x256, RGB scaled
  to [-1, 1] (MediaPipe's convention; [0, 1] also works but scores portraits lower). Mapping back undoes the
  scale and the padding exactly.
- Decoding: 896 SSD anchors (16x16 cells x 2 and 8x8 cells x 6, centres at cell centres, unit size), offsets
  in input pixels, sigmoid scores, then MediaPipe's weighted non-maximum suppression (IoU > 0.3 merges).
- Runtime: OpenCV DNN, so no new dependency. OpenCV 5's new engine rejects this file's ``ConstantOfShape``
  nodes because they omit the optional ``value`` attribute (ONNX default: float 0), so the attribute is added in
  memory before loading (the bundled file stays byte-identical to upstream); the classic engine loads the file
  but fails in MaxPool. Regressors and logits (|logit| < 20) match onnxruntime within 1e-3, scores within 1e-5.
  The network is loaded once per process, lazily (0.5 s); a photo then takes about 7 ms (2 CPU cores).
- MIN_SCORE 0.7: on the astronaut, 39 photos of ``shared/data/photos``, 40 EG1800 portraits and 40
  people-in-scenes photos: every single-face photo gives exactly one face, no false positive (the worst scored
  0.63), misses only profiles, helmets and ~10-pixel faces of groups; all 237 EG1800 portraits: exactly one.
- Chin: BlazeFace has no chin point. ``chin_y`` averages two estimates: the point (1 + CHIN_K) times the
  eyes-to-mouth distance below the eyes' midpoint along the face's own vertical axis (perpendicular to the eye
  line, so a tilted head keeps its proportions), CHIN_K = 0.55; and the box bottom, which BlazeFace learned to
  put at the chin (on average 0.04 eye-to-mouth distances lower). The box is upright only, so its weight fades
  from 1/2 at 15 degrees of head roll to 0 at 30 degrees. Judged by eye on 20 portraits: the error is about 0.05
  eye-to-mouth distances (about 1.5 % of the head height) with both, 0.09 with the keypoints alone.
- Rotation: a photo turned 90 degrees still works (scores 0.88 and 0.70 on the astronaut); upside down does not
  (0.46). Transpose photos by their EXIF orientation first.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.arrays import check_fraction, check_image
from core.errors import WeightsError

__all__ = ["CHIN_K", "MIN_SCORE", "WEIGHTS_FILE", "Face", "detect_faces"]

#: Default lowest score of a returned face (see the module docstring for the measurement).
MIN_SCORE = 0.7
#: Chin = eyes' midpoint + (1 + CHIN_K) x (eyes-to-mouth distance) along the face's vertical axis.
CHIN_K = 0.55
#: Weight of the box bottom in the chin estimate for an upright head, and the roll (degrees) where it fades out.
BOX_CHIN_WEIGHT = 0.5
BOX_CHIN_ROLL = (15.0, 30.0)
#: Candidates overlapping the best one by more than this IoU are merged into it (MediaPipe's setting).
NMS_IOU = 0.3

INPUT_SIZE = 256
WEIGHTS_FILE = Path(__file__).resolve().parent / "bundled_weights" / "blazeface_back_256.onnx"
WEIGHTS_MD5 = "ad8b2bbed9ca793bbe664683593d8b54"
OUTPUT_NAMES = ("Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0")  # scores 512, 384; regressors 512, 384

Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """One detected face; coordinates in photo pixels (x right, y down, origin at the photo's top-left corner).

    score: float in [0, 1]; box: (left, top, right, bottom); right_eye / left_eye: the subject's eyes (the right
    eye is on the image's left in a frontal photo); nose: nose tip; mouth: mouth centre; chin_y: estimated y of
    the chin (may exceed the photo's height when the chin is cut off).
    """

    score: float
    box: tuple[float, float, float, float]
    right_eye: Point
    left_eye: Point
    nose: Point
    mouth: Point
    chin_y: float

    @property
    def eyes_center(self) -> Point:
        """Midpoint of the two eyes, (x, y) in photo pixels."""
        return ((self.right_eye[0] + self.left_eye[0]) / 2.0, (self.right_eye[1] + self.left_eye[1]) / 2.0)

    @property
    def eye_distance(self) -> float:
        """Distance between the two eye centres in photo pixels (>= 0)."""
        return math.hypot(self.left_eye[0] - self.right_eye[0], self.left_eye[1] - self.right_eye[1])


# ---------------------------------------------------------------------------------------------- anchors, decoding


def ssd_anchors() -> np.ndarray:
    """Anchor centres float32 896x2 (x, y) in [0, 1]: 16x16 cells x 2 anchors, then 8x8 cells x 6, row by row."""
    parts = []
    for cells, per_cell in ((16, 2), (8, 6)):
        centres = (np.arange(cells, dtype=np.float64) + 0.5) / cells
        xs, ys = np.meshgrid(centres, centres)  # y outer, x inner: the order of the NHWC outputs
        parts.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(parts).astype(np.float32)


_ANCHORS = ssd_anchors()


def decode(
    logits: np.ndarray, regressors: np.ndarray, anchors: np.ndarray, input_size: int = INPUT_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (scores float64 N in [0, 1], boxes Nx4 (l, t, r, b), points Nx6x2 (x, y)), both in [0, 1] units.

    logits: N score logits; regressors: Nx16 offsets in input pixels (box centre x, y, width, height, then x, y of
    right eye, left eye, nose tip, mouth centre, right ear, left ear) relative to the anchor centres (Nx2 in [0, 1]).
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, np.float64), -100.0, 100.0)))
    r = np.asarray(regressors, np.float64) / float(input_size)
    a = np.asarray(anchors, np.float64)
    cx, cy, w, h = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1], r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    points = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    return scores, boxes, points


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) with boxes Nx4, all (l, t, r, b); 0 where the union is empty."""
    wh = np.clip(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0.0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(
    scores: np.ndarray, boxes: np.ndarray, points: np.ndarray, iou: float = NMS_IOU
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's weighted NMS: [(best score, score-weighted mean box (4,), points (6, 2))], best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    merged = []
    while order.size:
        best = order[0]
        group_mask = _iou(boxes[best], boxes[order]) > iou
        group_mask[0] = True  # a degenerate (empty) box still forms its own group
        group = order[group_mask]
        weights = scores[group] / scores[group].sum()
        merged.append((float(scores[best]), weights @ boxes[group], np.tensordot(weights, points[group], axes=1)))
        order = order[~group_mask]
    return merged


# ---------------------------------------------------------------------------------------------- letterbox


@dataclass(frozen=True)
class Letterbox:
    """Where the photo lies in the square model input: input pixel = photo pixel x scale + pad (per axis)."""

    size: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_photo(self, xy: np.ndarray) -> np.ndarray:
        """Points ...x2 in [0, 1] units of the model input -> float64 photo pixels ...x2."""
        p = np.asarray(xy, np.float64) * self.size
        return np.stack([(p[..., 0] - self.pad_x) / self.scale_x, (p[..., 1] - self.pad_y) / self.scale_y], axis=-1)

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Photo pixels ...x2 -> float64 [0, 1] units of the model input ...x2 (inverse of to_photo)."""
        p = np.asarray(xy, np.float64)
        moved = np.stack([p[..., 0] * self.scale_x + self.pad_x, p[..., 1] * self.scale_y + self.pad_y], axis=-1)
        return moved / self.size


def letterbox(image: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """image uint8 HxWx3 -> (uint8 size x size x 3: the photo resized to fit, centred on black; its Letterbox)."""
    h, w = image.shape[:2]
    fit = size / max(h, w)
    new_w, new_h = min(size, max(1, round(w * fit))), min(size, max(1, round(h * fit)))
    interpolation = cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image), (new_w, new_h), interpolation=interpolation)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    square = np.zeros((size, size, 3), np.uint8)
    square[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return square, Letterbox(size, new_w / w, new_h / h, pad_x, pad_y)


# ---------------------------------------------------------------------------------------------- chin


def estimate_chin_y(right_eye: Point, left_eye: Point, mouth: Point, box_bottom: float, k: float = CHIN_K) -> float:
    """Chin y in photo pixels from the eyes, mouth (x, y) and box bottom (y), all in photo pixels."""
    eye_r, eye_l, mth = (np.asarray(p, np.float64) for p in (right_eye, left_eye, mouth))
    across = eye_l - eye_r  # from the subject's right eye to the left one: +x for an upright frontal face
    length = math.hypot(across[0], across[1])
    mid = (eye_r + eye_l) / 2.0
    if length < 1e-9:  # no eye line: measure straight down
        return float(mid[1] + (1.0 + k) * (mth[1] - mid[1]))
    down = np.array([-across[1], across[0]]) / length  # the face's vertical axis, towards the mouth
    from_points = float((mid + (1.0 + k) * float((mth - mid) @ down) * down)[1])
    roll = abs(math.degrees(math.atan2(across[1], across[0])))
    full, zero = BOX_CHIN_ROLL
    weight = BOX_CHIN_WEIGHT * min(1.0, max(0.0, (zero - roll) / (zero - full)))
    return (1.0 - weight) * from_points + weight * float(box_bottom)


# ---------------------------------------------------------------------------------------------- network


_NET: Any = None
_NET_LOCK = threading.Lock()  # guards loading and each forward pass (a cv2.dnn.Net is not thread-safe)


def _opencv_compatible(data: bytes) -> bytes:
    """ONNX model bytes with the default value (float 0) written into every ConstantOfShape lacking one."""
    import onnx  # a runtime dependency already (core.weights); imported here so `import core.faces` stays light
    from onnx import TensorProto, helper

    model = onnx.load_from_string(data)
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
            zero = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0])
            node.attribute.append(helper.make_attribute("value", zero))
    return model.SerializeToString()


def _load_net() -> Any:
    """The cv2.dnn.Net of the bundled weights, read and md5-checked once per process."""
    global _NET
    if _NET is None:
        try:
            data = WEIGHTS_FILE.read_bytes()
        except OSError as e:
            raise WeightsError(
                f"The face detector's weights {WEIGHTS_FILE} could not be read ({e}); "
                f"restore core/bundled_weights/ from the repository or reinstall Portrait Studio."
            ) from e
        if hashlib.md5(data).hexdigest() != WEIGHTS_MD5:
            raise WeightsError(
                f"The face detector's weights {WEIGHTS_FILE} are corrupt (md5 is not {WEIGHTS_MD5}); "
                f"restore core/bundled_weights/ from the repository or reinstall Portrait Studio."
            )
        _NET = cv2.dnn.readNetFromONNX(np.frombuffer(_opencv_compatible(data), np.uint8), cv2.dnn.ENGINE_NEW)
    return _NET


def model_input(square: np.ndarray) -> np.ndarray:
    """uint8 size x size x 3 RGB -> float32 1 x size x size x 3 in [-1, 1] (the network's NHWC input)."""
    return np.ascontiguousarray((square.astype(np.float32) / 127.5 - 1.0)[None])


def _run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 1x256x256x3 in [-1, 1] -> (logits float32 896, regressors float32 896x16)."""
    with _NET_LOCK:
        net = _load_net()
        net.setInput(x)
        outs = net.forward(list(OUTPUT_NAMES))
    logits = np.concatenate([outs[0].reshape(-1), outs[1].reshape(-1)])
    regressors = np.concatenate([outs[2].reshape(-1, 16), outs[3].reshape(-1, 16)])
    return logits, regressors


# ---------------------------------------------------------------------------------------------- public


def _pair(p: np.ndarray) -> Point:
    return (float(p[0]), float(p[1]))


def detect_faces(image: np.ndarray, min_score: float = MIN_SCORE) -> list[Face]:
    """Faces in image (uint8 HxWx3 RGB) scoring >= min_score (a number in [0, 1]), best score first."""
    check_image(image, "image")
    min_score = check_fraction(min_score, "min_score")
    square, placement = letterbox(image)
    scores, boxes, points = decode(*_run(model_input(square)), _ANCHORS)
    keep = scores >= min_score
    faces = []
    for score, b, p in weighted_nms(scores[keep], boxes[keep], points[keep]):
        left, top, right, bottom = (float(v) for v in placement.to_photo(b.reshape(2, 2)).ravel())
        right_eye, left_eye, nose, mouth = (_pair(q) for q in placement.to_photo(p)[:4])
        faces.append(
            Face(
                score=score,
                box=(left, top, right, bottom),
                right_eye=right_eye,
                left_eye=left_eye,
                nose=nose,
                mouth=mouth,
                chin_y=estimate_chin_y(right_eye, left_eye, mouth, bottom),
            )
        )
    return faces
