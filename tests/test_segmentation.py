"""Segmentation: exact reference preprocessing, output normalisation, devices, and the real model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.errors import SettingsError
from core.segmentation import (
    get_segmenter,
    normalize_prediction,
    preprocess,
    resize_prediction,
    select_device,
)
from core.weights import REGISTRY

SPEC = REGISTRY["u2netp"]


def test_preprocess_divides_by_the_maximum_then_applies_imagenet_mean_and_std():
    image = np.empty((320, 320, 3), np.uint8)
    image[...] = (51, 102, 204)  # max 204 -> 0.25, 0.5, 1.0
    batch = preprocess(image, SPEC)
    assert batch.shape == (1, 3, 320, 320) and batch.dtype == np.float32
    expected = [(0.25 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1.0 - 0.406) / 0.225]
    for channel, value in enumerate(expected):
        np.testing.assert_allclose(batch[0, channel], value, rtol=0, atol=1e-6)


def test_preprocess_resizes_any_shape_to_the_network_input():
    image = np.zeros((37, 900, 3), np.uint8)
    image[:, 450:] = 255
    batch = preprocess(image, SPEC)
    assert batch.shape == (1, 3, 320, 320)
    # left half black, right half white after resize: -mean/std and (1-mean)/std respectively
    assert batch[0, 0, 100, 10] == pytest.approx(-0.485 / 0.229, abs=1e-5)
    assert batch[0, 0, 100, 310] == pytest.approx((1 - 0.485) / 0.229, abs=1e-5)


def test_preprocess_of_a_black_image_does_not_divide_by_zero():
    batch = preprocess(np.zeros((10, 10, 3), np.uint8), SPEC)
    assert np.isfinite(batch).all()
    assert batch[0, 2, 0, 0] == pytest.approx(-0.406 / 0.225, abs=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), "image"])
def test_preprocess_rejects_what_is_not_rgb_uint8(bad):
    with pytest.raises(SettingsError, match="uint8 HxWx3"):
        preprocess(bad, SPEC)


def test_normalize_prediction_is_min_max():
    d0 = np.array([[0.2, 0.6], [1.0, 0.2]], np.float32)
    np.testing.assert_allclose(normalize_prediction(d0), [[0.0, 0.5], [1.0, 0.0]], atol=1e-7)
    assert not normalize_prediction(np.full((3, 3), 0.7, np.float32)).any()


def test_resize_prediction_returns_image_size_in_range():
    prediction = np.zeros((320, 320), np.float32)
    prediction[:, 160:] = 1.0
    alpha = resize_prediction(prediction, (600, 800))
    assert alpha.shape == (600, 800) and alpha.dtype == np.float32
    assert alpha[:, :390].max() == 0.0 and alpha[:, 410:].min() == 1.0
    assert resize_prediction(prediction, (1, 1)).shape == (1, 1)


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(SettingsError, match="choose one of"):
        select_device("tpu")


def test_segmenter_is_shared_per_model_and_device(segmenter):
    assert get_segmenter("u2netp", "cpu") is segmenter
    assert segmenter.parameters == 1_131_181


def test_astronaut_face_and_suit_are_foreground_corners_background(segmenter, astronaut):
    alpha = segmenter.segment(astronaut)
    assert alpha.shape == (512, 512) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert alpha[60:160, 170:280].mean() > 0.9  # face
    assert alpha[300:460, 80:260].mean() > 0.95  # orange suit
    assert alpha[:40, :40].mean() < 0.05 and alpha[:40, -40:].mean() < 0.05  # top corners
    assert alpha[20:260, 360:460].mean() < 0.1  # the shuttle model behind her


def _iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    predicted = alpha > 0.5
    return float((predicted & truth).sum() / max((predicted | truth).sum(), 1))


@pytest.mark.slow
def test_raw_mask_mean_iou_on_the_dev_set_is_at_least_0_86(segmenter, dev_set):
    ious = []
    for image_path in sorted((dev_set / "images").glob("*.jpg")):
        image = np.asarray(Image.open(image_path).convert("RGB"))
        truth = np.asarray(Image.open(dev_set / "masks" / f"{image_path.stem}.png")) > 127
        ious.append(_iou(segmenter.segment(image), truth))
    assert len(ious) == 237
    assert np.mean(ious) >= 0.86


def test_the_shipped_forward_pass_is_exact_against_the_loaded_model(segmenter):
    """BatchNorm folding and the TorchScript-frozen CPU path keep d0 within 1e-5 of the official layout."""
    import torch

    rng = np.random.default_rng(0)
    batch = rng.normal(size=(1, 3, 320, 320)).astype(np.float32)
    with torch.inference_mode():
        expected = segmenter.model(torch.from_numpy(batch))[0][0, 0].numpy()
    got = segmenter.forward(batch)
    assert got.shape == (320, 320) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert segmenter._frozen is not None  # the CPU default: the frozen TorchScript model ran
