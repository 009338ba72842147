"""Finishing: decontamination reaches every output; switches off give the plain straight-alpha composite."""

from __future__ import annotations

import numpy as np
import pytest

from core.composite import Background, background_plate, blend, blurred_background, cutout_rgba
from core.errors import SettingsError
from tests.image_support import red_subject_blue_background
from core.finishing import FinishSettings, finish
from core.foreground import decontaminate

OFF = FinishSettings(decontaminate=False)


def _scene():
    x = np.arange(400, dtype=np.float32)
    alpha = np.tile(np.clip((200 + 6 - x) / 12, 0, 1), (300, 1)).astype(np.float32)
    photo = alpha[..., None] * np.float32([200, 60, 40]) + (1 - alpha[..., None]) * np.float32([20, 200, 40])
    return np.clip(np.ceil(photo - 0.5), 0, 255).astype(np.uint8), alpha


@pytest.mark.parametrize("background", [
    Background(kind="color", color=(0, 0, 255)), Background(kind="blur"), Background(kind="transparent"),
    Background(kind="image", image=np.full((50, 80, 3), 90, np.uint8)),
])
def test_with_everything_off_finish_is_the_plain_composite(background):
    photo, alpha = _scene()
    plain = (cutout_rgba(photo, alpha) if background.kind == "transparent"
             else blend(photo, alpha, background_plate(photo, alpha, background)))
    np.testing.assert_array_equal(finish(photo, alpha, background, OFF), plain)


def test_decontamination_is_applied_to_cutouts_and_composites_by_default():
    photo, alpha = _scene()
    clean = decontaminate(photo, alpha)
    cutout = finish(photo, alpha, Background(kind="transparent"))
    np.testing.assert_array_equal(cutout[..., :3], clean)  # straight alpha, cleaned colours
    blue = Background(kind="color", color=(0, 0, 255))
    plate = np.broadcast_to(np.uint8([0, 0, 255]), photo.shape).copy()
    np.testing.assert_array_equal(finish(photo, alpha, blue), blend(clean, alpha, plate))


def test_harmonize_and_light_wrap_only_act_when_switched_on():
    photo, alpha = _scene()
    white = Background(kind="color", color=(255, 255, 255))
    base = finish(photo, alpha, white)
    assert np.array_equal(finish(photo, alpha, white, FinishSettings(harmonize_strength=1.0)), base)  # switch off
    wrapped = finish(photo, alpha, white, FinishSettings(light_wrap=True, light_wrap_strength=1.0))
    edge = (alpha > 0.5) & (alpha < 1)
    assert (wrapped[edge].astype(int) >= base[edge]).all() and (wrapped[edge] > base[edge]).any()  # light falls on the edge
    assert not np.array_equal(finish(photo, alpha, white, FinishSettings(harmonize=True, harmonize_strength=1.0)), base)


def test_settings_are_validated():
    with pytest.raises(SettingsError, match="decontaminate_strength"):
        FinishSettings(decontaminate_strength=2.0)
    assert FinishSettings.from_dict({"light_wrap": True}).light_wrap is True


def grey(value: int, h: int = 1, w: int = 1) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_finish_with_everything_off_composites_every_background_kind():
    img = np.array([[[200, 200, 200], [10, 20, 30]]], np.uint8)
    a = np.array([[0.5, 1.0]], np.float32)
    white = finish(img, a, Background("color", color=(255, 255, 255)), OFF)
    assert white.tolist() == [[[227, 227, 227], [10, 20, 30]]]
    cut = finish(img, a, Background("transparent"), OFF)
    assert cut.shape == (1, 2, 4)
    assert cut.tolist() == [[[200, 200, 200, 128], [10, 20, 30, 255]]]
    photo = finish(img, a, Background("image", image=grey(255, 4, 8)), OFF)
    assert photo.tolist() == white.tolist()
    blurred = finish(img, a, Background("blur"), OFF)
    assert blurred.shape == (1, 2, 3) and blurred.dtype == np.uint8
    with pytest.raises(SettingsError, match="must be a Background"):
        finish(img, a, "#ffffff", OFF)  # type: ignore[arg-type]


def test_the_blur_kernel_reaches_the_background_plate():
    img, alpha = red_subject_blue_background(40, 40)
    img[::3, 25:] = (255, 255, 0)  # some texture in the background
    alpha[:, 18:22] = 0.5
    for kernel in ("gaussian", "disc"):
        out = finish(img, alpha, Background("blur", blur_sigma_pct=5.0, blur_kernel=kernel), OFF)
        np.testing.assert_array_equal(out, blend(img, alpha, blurred_background(img, alpha, 5.0, kernel)))
    disc = finish(img, alpha, Background("blur", blur_sigma_pct=5.0, blur_kernel="disc"), OFF)
    assert not np.array_equal(disc, finish(img, alpha, Background("blur", blur_sigma_pct=5.0), OFF))
