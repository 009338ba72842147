"""U²-Net architectures: exact official state-dict layout and forward-pass shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.model import RSU, RSU4F, U2NET, U2NETP, build_model, parameter_count

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("architecture", ["u2net", "u2netp"])
def test_state_dict_keys_and_shapes_match_the_official_checkpoint(architecture):
    reference = json.loads((DATA / f"{architecture}_keys.json").read_text())
    ours = {key: list(value.shape) for key, value in build_model(architecture).state_dict().items()}
    assert ours == reference
    assert list(ours) == list(reference)  # same order: the ONNX importer relies on it


def test_official_state_dict_loads_strictly_into_a_fresh_model():
    source, target = U2NETP(), U2NETP()
    target.load_state_dict(source.state_dict(), strict=True)
    extra = dict(source.state_dict(), **{"stage1.extra.weight": torch.zeros(1)})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        target.load_state_dict(extra, strict=True)


def test_parameter_counts_are_the_published_ones():
    assert parameter_count(U2NET()) == 44_009_869  # "44.0 M"
    assert parameter_count(U2NETP()) == 1_131_181  # "1.13 M"


def test_forward_returns_seven_probability_maps_at_input_size():
    model = build_model("u2netp")
    with torch.inference_mode():
        outputs = model(torch.randn(1, 3, 48, 80))
    assert len(outputs) == 7
    for output in outputs:
        assert output.shape == (1, 1, 48, 80)
        assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0


def test_rsu_blocks_keep_size_and_map_channels():
    x = torch.randn(1, 5, 21, 13)  # odd sizes exercise ceil-mode pooling and upsampling back
    with torch.inference_mode():
        assert RSU(7, 5, 4, 6).eval()(x).shape == (1, 6, 21, 13)
        assert RSU4F(5, 4, 6).eval()(x).shape == (1, 6, 21, 13)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        build_model("resnet")
