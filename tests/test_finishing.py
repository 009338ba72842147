"""Finishing: decontamination reaches every output; switches off give the plain straight-alpha composite."""

from __future__ import annotations

import numpy as np
import pytest

from core.composite import Background, blend, composite
from core.errors import SettingsError
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
    np.testing.assert_array_equal(finish(photo, alpha, background, OFF), composite(photo, alpha, background))


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
