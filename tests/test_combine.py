"""The default combination: which network is trusted for a photo, and the combined segmenter's interface."""

from __future__ import annotations

import numpy as np
import pytest

from core import combine
from core.combine import MAX_DISAGREEMENT, CombinedSegmenter, decide
from core.errors import SettingsError
from core.segmentation import InferenceSettings, get_segmenter
from core.weights import DEFAULT_MODEL, REGISTRY


def _box(shape: tuple[int, int], top: int, left: int, bottom: int, right: int) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[top:bottom, left:right] = 1.0
    return out


def test_the_portrait_network_is_trusted_when_its_two_views_agree():
    view = _box((100, 100), 10, 10, 90, 90)  # 6400 px of subject
    mirrored = view.copy()
    mirrored[10:90, 10:14] = 0.0  # the mirrored view misses a 4×80 strip: 320 of (6400 + 6080) / 2 = 6240 px
    decision = decide([view, mirrored])
    assert decision.chosen == "modnet"
    assert decision.disagreement == pytest.approx(320 / 6240)
    assert decision.subject_area == pytest.approx(0.64)  # the mean of the two views: the strip is at 0.5 → subject
    assert "5.1%" in decision.reason


def test_the_salient_network_is_used_when_the_portrait_networks_views_disagree():
    view = _box((100, 100), 10, 10, 90, 90)
    mirrored = _box((100, 100), 10, 10, 90, 60)  # 4000 px: disagree on 2400 of 5200
    decision = decide([view, mirrored])
    assert decision.chosen == "u2netp" and decision.disagreement == pytest.approx(2400 / 5200)
    assert "small in the picture" in decision.reason
    empty = np.zeros((100, 100), np.float32)
    nothing = decide([empty, empty])
    assert nothing.chosen == "u2netp" and nothing.disagreement == float("inf") and "finds no person" in nothing.reason
    with pytest.raises(SettingsError, match="flip"):
        decide([view])


def test_the_threshold_is_the_one_declared(monkeypatch):
    view = _box((100, 100), 0, 0, 100, 100)
    mirrored = _box((100, 100), 0, 0, 100, 90)  # disagree on 1000 of 9500 px: 10.5 %
    monkeypatch.setattr(combine, "MAX_DISAGREEMENT", 0.11)
    assert decide([view, mirrored]).chosen == "modnet"
    monkeypatch.setattr(combine, "MAX_DISAGREEMENT", 0.10)
    assert decide([view, mirrored]).chosen == "u2netp"


class _Fixed:
    """Stands in for a member Segmenter: fixed views, and a record of the calls it got."""

    def __init__(self, name: str, views: list[np.ndarray]) -> None:
        self.spec = REGISTRY[name]
        self.views = views
        self.parameters = 10
        self.calls: list[tuple[str, object]] = []

    def prepare(self, image: np.ndarray, settings: InferenceSettings | None = None) -> np.ndarray:
        self.calls.append(("prepare", settings))
        return np.zeros((1, 3, 32, 32), np.float32)

    def infer_views(self, batch, shape, settings=None) -> list[np.ndarray]:
        self.calls.append(("infer", settings))
        return self.views

    def join_views(self, views: list[np.ndarray]) -> np.ndarray:
        return (views[0] + views[-1]) / 2

    def infer(self, batch, shape, settings=None) -> np.ndarray:
        return self.join_views(self.infer_views(batch, shape, settings))


def test_the_combined_segmenter_runs_u2net_only_when_modnet_is_not_trusted():
    agree = [_box((64, 48), 8, 8, 60, 40)] * 2
    portrait, salient = _Fixed("modnet", agree), _Fixed("u2netp", [_box((40, 40), 4, 4, 38, 36)])
    pair = CombinedSegmenter(REGISTRY["auto"], [portrait, salient])
    image = np.zeros((64, 48, 3), np.uint8)
    out = pair.run(pair.prepare(image), (64, 48))
    assert out.decision.chosen == "modnet" and set(out.parts) == {"modnet"}
    np.testing.assert_array_equal(out.prediction, agree[0])  # MODNet's matte as it is: no resampling, no blending
    assert salient.calls == []  # U²-Net was not run, and its input was never made
    assert pair.parameters == 20
    assert [c for c in portrait.calls if c[0] == "prepare"] == [("prepare", None)]  # each member's own input

    portrait.views = [_box((64, 48), 8, 8, 60, 40), _box((64, 48), 8, 8, 60, 20)]  # the views disagree
    out = pair.run(pair.prepare(image), (64, 48))
    assert out.decision.chosen == "u2netp" and set(out.parts) == {"modnet", "u2netp"}
    assert salient.calls == [("prepare", None), ("infer", None)]  # its input made when needed, once
    np.testing.assert_array_equal(out.prediction, salient.views[0])
    np.testing.assert_array_equal(pair.predict(image), salient.views[0])


def test_the_combination_refuses_network_input_settings():
    pair = CombinedSegmenter(REGISTRY["auto"], [_Fixed("modnet", [np.ones((8, 8), np.float32)] * 2), _Fixed("u2netp", [np.ones((8, 8), np.float32)])])
    with pytest.raises(SettingsError, match="choose one network"):
        pair.predict(np.zeros((8, 8, 3), np.uint8), InferenceSettings(flip=False))


def test_the_default_model_is_the_combination_of_the_two_bundled_networks():
    spec = REGISTRY[DEFAULT_MODEL]
    assert spec.members == ("modnet", "u2netp") and spec.bundled
    assert all(REGISTRY[name].bundled for name in spec.members)
    with pytest.raises(SettingsError, match="choose one network"):
        get_segmenter(DEFAULT_MODEL, "cpu", weights_path="core/bundled_weights/u2netp.onnx")


def test_the_real_combination_keeps_the_astronaut(astronaut):
    pair = get_segmenter(DEFAULT_MODEL, "cpu", allow_download=False)
    assert isinstance(pair, CombinedSegmenter)
    out = pair.run(pair.prepare(astronaut), astronaut.shape[:2])
    assert out.parts["modnet"].shape == (384, 384)  # MODNet's input: the photo at its measured 384 px, no padding
    # MODNet's two scales (384 px, and 320 px for the mirror) disagree on 14 % of the astronaut (around the helmet
    # and the suit's lower edge), within the limit: MODNet's matte is used and U²-Net never runs
    assert out.decision.chosen == "modnet" and 0.12 < out.decision.disagreement <= MAX_DISAGREEMENT
    assert set(out.parts) == {"modnet"}
    alpha = pair.segment(astronaut)
    assert alpha.shape == (512, 512)
    assert alpha[150, 230] > 0.9 and alpha[400, 200] > 0.9  # face, suit
    assert alpha[20, 20] < 0.1 and alpha[20, 490] < 0.1  # background corners
