"""Tests of core.faces: anchors, decoding, NMS, letterbox and chin by hand; the bundled BlazeFace on the astronaut."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import faces
from core.errors import PortraitStudioError, SettingsError, WeightsError
from core.faces import Face, Letterbox, decode, detect_faces, estimate_chin_y, letterbox, ssd_anchors, weighted_nms

ASTRONAUT = Path(__file__).resolve().parent.parent / "assets" / "astronaut.jpg"

# The astronaut (assets/astronaut.jpg, 512x512), measured with the bundled model and checked by eye on an overlay:
# eyes on the pupils, nose on its tip, mouth between the lips, chin line on the bottom of the chin.
ASTRO_SCORE = 0.882
ASTRO_BOX = (173.1, 74.9, 277.2, 179.0)  # left, top, right, bottom
ASTRO_RIGHT_EYE = (202.8, 102.2)  # the subject's right eye: on the image's left
ASTRO_LEFT_EYE = (248.2, 103.5)
ASTRO_NOSE = (224.2, 128.1)
ASTRO_MOUTH = (223.6, 149.6)
ASTRO_CHIN_Y = 177.2
TOL = 2.0  # pixels: a different OpenCV build or resampler may move points a little


@pytest.fixture(scope="module")
def astronaut_jpg() -> np.ndarray:
    """The bundled NASA portrait, uint8 512x512x3 RGB."""
    return np.asarray(Image.open(ASTRONAUT).convert("RGB"))


def close(a, b, tol: float = TOL) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------- anchors, decoding


def test_anchors_follow_the_two_feature_maps():
    a = ssd_anchors()
    assert a.shape == (896, 2) and a.dtype == np.float32
    # 16x16 cells of 2 anchors: cell (x, y) -> ((x + 0.5) / 16, (y + 0.5) / 16), row by row.
    assert a[0].tolist() == a[1].tolist() == [1 / 32, 1 / 32]
    assert a[2].tolist() == [3 / 32, 1 / 32]
    assert a[32].tolist() == [1 / 32, 3 / 32]  # second row
    assert a[511].tolist() == [31 / 32, 31 / 32]
    # 8x8 cells of 6 anchors.
    assert all(a[i].tolist() == [1 / 16, 1 / 16] for i in range(512, 518))
    assert a[518].tolist() == [3 / 16, 1 / 16]
    assert a[512 + 6 * 8].tolist() == [1 / 16, 3 / 16]
    assert a[895].tolist() == [15 / 16, 15 / 16]


def test_decode_a_hand_made_row():
    anchors = np.array([[0.25, 0.75], [0.5, 0.5]], np.float32)
    reg = np.zeros((2, 16), np.float32)
    reg[0, :4] = [12.8, -25.6, 64.0, 32.0]  # centre offset (+0.05, -0.1), size (0.25, 0.125) of a 256 input
    reg[0, 4:6] = [25.6, 0.0]  # right eye
    reg[0, 10:12] = [-12.8, 51.2]  # mouth
    scores, boxes, points = decode(np.array([0.0, math.log(3.0)]), reg, anchors, 256)
    assert scores == pytest.approx([0.5, 0.75])
    assert boxes[0] == pytest.approx([0.175, 0.5875, 0.425, 0.7125])
    assert points[0, 0] == pytest.approx([0.35, 0.75])
    assert points[0, 3] == pytest.approx([0.2, 0.95])
    assert points[0, 1] == pytest.approx([0.25, 0.75])  # zero offset: the anchor centre
    assert boxes[1] == pytest.approx([0.5, 0.5, 0.5, 0.5])
    assert points.shape == (2, 6, 2)
    # Huge logits neither overflow nor leave [0, 1].
    s, _, _ = decode(np.array([1e4, -1e4]), reg, anchors, 256)
    assert s[0] == pytest.approx(1.0) and s[1] == pytest.approx(0.0) and np.all(np.isfinite(s))


def test_weighted_nms_blends_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float64)  # IoU(0, 1) = 90 / 110
    points = np.stack([np.full((6, 2), v, np.float64) for v in (0.0, 4.0, 50.0)])
    scores = np.array([0.75, 0.25, 0.5])
    out = weighted_nms(scores, boxes, points)
    assert [s for s, _, _ in out] == [0.75, 0.5]
    assert out[0][1] == pytest.approx([0.25, 0.0, 10.25, 10.0])  # 0.75 * box0 + 0.25 * box1
    assert out[0][2] == pytest.approx(np.full((6, 2), 1.0))
    assert out[1][1] == pytest.approx([20, 20, 30, 30])
    assert weighted_nms(np.zeros(0), np.zeros((0, 4)), np.zeros((0, 6, 2))) == []


# ---------------------------------------------------------------------------------------------- letterbox


def test_letterbox_centres_a_landscape_photo_on_black():
    photo = np.full((100, 200, 3), 200, np.uint8)
    square, lb = letterbox(photo, 256)
    assert square.shape == (256, 256, 3) and square.dtype == np.uint8
    assert lb == Letterbox(256, 1.28, 1.28, 0, 64)
    assert np.all(square[:64] == 0) and np.all(square[192:] == 0) and np.all(square[64:192] == 200)
    assert lb.to_input(np.array([50.0, 25.0])) == pytest.approx([0.25, 0.375])  # (64, 96) input pixels
    assert lb.to_photo(np.array([[0.0, 0.25], [1.0, 0.75]])).ravel() == pytest.approx([0.0, 0.0, 200.0, 100.0])


def test_letterbox_of_a_portrait_photo_pads_the_sides():
    square, lb = letterbox(np.zeros((300, 150, 3), np.uint8), 256)
    assert (lb.pad_x, lb.pad_y) == (64, 0) and lb.scale_x == pytest.approx(128 / 150)
    assert lb.to_photo(np.array([0.5, 0.5])) == pytest.approx([75.0, 150.0])  # centre maps to centre


@pytest.mark.parametrize("shape", [(37, 101), (512, 512), (1000, 999), (3, 700), (700, 3)])
def test_letterbox_mapping_round_trips(shape):
    _, lb = letterbox(np.zeros((*shape, 3), np.uint8), 256)
    pts = np.random.default_rng(1).uniform(-50, 1200, size=(20, 2))
    assert lb.to_photo(lb.to_input(pts)) == pytest.approx(pts, abs=1e-9)
    # The photo's corners land on the edges of the resized photo inside the square.
    h, w = shape
    corners = lb.to_input(np.array([[0.0, 0.0], [w, h]])) * 256
    assert corners[0] == pytest.approx([lb.pad_x, lb.pad_y])
    new_w, new_h = w * lb.scale_x, h * lb.scale_y  # the resized photo's whole-pixel size
    assert new_w == pytest.approx(round(new_w)) and new_h == pytest.approx(round(new_h))
    assert max(round(new_w), round(new_h)) == 256 and min(round(new_w), round(new_h)) >= 1
    assert corners[1] == pytest.approx([lb.pad_x + new_w, lb.pad_y + new_h])
    assert abs((256 - lb.pad_x - new_w) - lb.pad_x) <= 1 and abs((256 - lb.pad_y - new_h) - lb.pad_y) <= 1  # centred


# ---------------------------------------------------------------------------------------------- chin, Face


def test_chin_of_an_upright_face_averages_keypoints_and_box_bottom():
    # eyes 30 px above the mouth: keypoints put the chin 1.55 x 30 below the eyes (146.5); the box says 150.
    assert estimate_chin_y((90, 100), (110, 100), (100, 130), 150.0) == pytest.approx(148.25)
    assert estimate_chin_y((90, 100), (110, 100), (100, 130), 150.0, k=0.5) == pytest.approx((145.0 + 150.0) / 2)


def test_chin_of_a_tilted_face_follows_the_face_axis():
    theta = math.radians(40)  # past 30 degrees of roll the upright box is ignored
    across, down = np.array([math.cos(theta), math.sin(theta)]), np.array([-math.sin(theta), math.cos(theta)])
    mid = np.array([100.0, 100.0])
    right_eye, left_eye, mouth = mid - 10 * across, mid + 10 * across, mid + 30 * down
    chin = estimate_chin_y(tuple(right_eye), tuple(left_eye), tuple(mouth), box_bottom=1e6)
    assert chin == pytest.approx(100 + 1.55 * 30 * math.cos(theta))
    # Lying on its side (roll 90 degrees): the chin is level with the eyes.
    assert estimate_chin_y((100, 90), (100, 110), (70, 100), 1e6) == pytest.approx(100.0)
    # Half-way through the fade (22.5 degrees): the box has weight 1/4.
    theta = math.radians(22.5)
    across, down = np.array([math.cos(theta), math.sin(theta)]), np.array([-math.sin(theta), math.cos(theta)])
    pts = [tuple(mid - 10 * across), tuple(mid + 10 * across), tuple(mid + 30 * down)]
    from_points = 100 + 1.55 * 30 * math.cos(theta)
    assert estimate_chin_y(*pts, 200.0) == pytest.approx(0.75 * from_points + 0.25 * 200.0)
    # Coincident eyes do not break: measured straight down.
    assert estimate_chin_y((100, 100), (100, 100), (100, 120), 1e6) == pytest.approx(131.0)


def test_face_properties_and_immutability():
    f = Face(0.9, (0, 0, 10, 10), right_eye=(2.0, 4.0), left_eye=(8.0, 12.0), nose=(5, 6), mouth=(5, 8), chin_y=10.0)
    assert f.eyes_center == (5.0, 8.0)
    assert f.eye_distance == pytest.approx(10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.score = 0.1  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------- the real model


def test_astronaut_has_one_face_where_measured(astronaut_jpg):
    before = astronaut_jpg.copy()
    found = detect_faces(astronaut_jpg)
    assert np.array_equal(astronaut_jpg, before)  # input untouched
    assert len(found) == 1
    f = found[0]
    assert isinstance(f.score, float) and f.score == pytest.approx(ASTRO_SCORE, abs=0.03)
    assert close(f.box, ASTRO_BOX)
    assert close(f.right_eye, ASTRO_RIGHT_EYE) and close(f.left_eye, ASTRO_LEFT_EYE)
    assert close(f.nose, ASTRO_NOSE) and close(f.mouth, ASTRO_MOUTH)
    assert f.chin_y == pytest.approx(ASTRO_CHIN_Y, abs=TOL)
    left, top, right, bottom = f.box
    for x, y in (f.right_eye, f.left_eye, f.nose, f.mouth):
        assert left < x < right and top < y < bottom
    assert f.right_eye[0] < f.nose[0] < f.left_eye[0]  # the subject's right eye is on the image's left
    assert f.eyes_center[1] < f.nose[1] < f.mouth[1] < f.chin_y < astronaut_jpg.shape[0]
    assert f.eye_distance == pytest.approx(45.4, abs=TOL)


def test_coordinates_are_mapped_back_through_padding_and_crops(astronaut_jpg):
    # Cropped to 400 px wide: the letterbox now pads the sides; the face keeps its place in the crop.
    crop = detect_faces(astronaut_jpg[:, 56:456])
    assert len(crop) == 1
    assert close(crop[0].right_eye, (ASTRO_RIGHT_EYE[0] - 56, ASTRO_RIGHT_EYE[1]), 3.0)
    assert close(crop[0].mouth, (ASTRO_MOUTH[0] - 56, ASTRO_MOUTH[1]), 3.0)
    # Set into a larger grey canvas at (100, 40): everything shifts by that offset.
    canvas = np.full((612, 712, 3), 128, np.uint8)
    canvas[40:552, 100:612] = astronaut_jpg
    big = detect_faces(canvas)
    assert len(big) == 1
    assert close(big[0].left_eye, (ASTRO_LEFT_EYE[0] + 100, ASTRO_LEFT_EYE[1] + 40), 3.0)
    # The face is now seen at 0.72 of the resolution: the model's points move by a few pixels (not the mapping).
    assert big[0].chin_y == pytest.approx(ASTRO_CHIN_Y + 40, abs=6.0)


def test_photos_without_a_face_give_nothing():
    assert detect_faces(np.full((480, 640, 3), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    assert detect_faces(noise) == []
    assert detect_faces(np.zeros((1, 1, 3), np.uint8)) == []  # a single pixel is a valid (empty) photo


def test_a_photo_turned_by_90_degrees_still_works_upside_down_does_not(astronaut_jpg):
    # Turned clockwise (a view with negative strides): the point (x, y) moves to (512 - y, x).
    cw = detect_faces(np.rot90(astronaut_jpg, -1))
    assert len(cw) == 1 and cw[0].score > 0.8
    f, tol = cw[0], 0.15 * 45.4
    assert close(f.right_eye, (512 - ASTRO_RIGHT_EYE[1], ASTRO_RIGHT_EYE[0]), tol)
    assert close(f.left_eye, (512 - ASTRO_LEFT_EYE[1], ASTRO_LEFT_EYE[0]), tol)
    assert close(f.mouth, (512 - ASTRO_MOUTH[1], ASTRO_MOUTH[0]), tol)
    assert abs(f.chin_y - f.eyes_center[1]) < tol  # lying on its side: the chin is level with the eyes
    # Counter-clockwise scores only about 0.70 (close to MIN_SCORE) but the points are right.
    ccw = detect_faces(np.rot90(astronaut_jpg, 1), min_score=0.6)
    assert len(ccw) == 1
    assert close(ccw[0].right_eye, (ASTRO_RIGHT_EYE[1], 512 - ASTRO_RIGHT_EYE[0]), tol)
    # Known limitation: BlazeFace is trained on upright faces; upside down the face scores about 0.46.
    assert detect_faces(np.rot90(astronaut_jpg, 2)) == []


def test_opencv_matches_onnxruntime(astronaut_jpg):
    ort = pytest.importorskip("onnxruntime")
    square, _ = letterbox(astronaut_jpg)
    x = faces.model_input(square)
    assert x.shape == (1, 256, 256, 3) and x.dtype == np.float32 and -1.0 <= x.min() and x.max() <= 1.0
    logits, regressors = faces._run(x)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the file has a few unused initializers
    session = ort.InferenceSession(str(faces.WEIGHTS_FILE), options, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(faces.OUTPUT_NAMES)
    out = session.run(None, {"input:0": x})
    ref_logits = np.concatenate([out[0].reshape(-1), out[1].reshape(-1)])
    ref_regressors = np.concatenate([out[2].reshape(-1, 16), out[3].reshape(-1, 16)])
    assert np.abs(regressors - ref_regressors).max() < 1e-3
    useful = np.abs(ref_logits) < 20  # beyond, the sigmoid is flat and float32 rounding of |logit| ~ 1e3 shows
    assert np.abs(logits - ref_logits)[useful].max() < 1e-3
    scores = decode(logits, regressors, faces._ANCHORS)[0]
    assert np.abs(scores - decode(ref_logits, ref_regressors, faces._ANCHORS)[0]).max() < 1e-4


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        [[[0, 0, 0]]],
        None,
    ],
    ids=["float", "grey", "rgba", "empty", "list", "none"],
)
def test_bad_images_raise_a_clear_error(image):
    with pytest.raises(SettingsError, match="image") as info:
        detect_faces(image)
    assert isinstance(info.value, PortraitStudioError)


@pytest.mark.parametrize("min_score", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_bad_min_score_raises(min_score):
    with pytest.raises(SettingsError, match="min_score"):
        detect_faces(np.zeros((8, 8, 3), np.uint8), min_score=min_score)


def test_corrupt_weights_raise_weights_error(tmp_path, monkeypatch):
    bad = tmp_path / "blazeface_back_256.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(faces, "_NET", None)
    monkeypatch.setattr(faces, "WEIGHTS_FILE", bad)
    with pytest.raises(WeightsError, match="corrupt"):
        detect_faces(np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(faces, "WEIGHTS_FILE", tmp_path / "missing.onnx")
    with pytest.raises(WeightsError, match="could not be read"):
        detect_faces(np.zeros((8, 8, 3), np.uint8))
