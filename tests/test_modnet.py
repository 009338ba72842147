"""MODNet in PyTorch: parity with onnxruntime on the bundled official weights (the loaded model and its fast
inference copy), and the importer's errors."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch

from core.errors import WeightsError
from core.model import parameter_count
from core import modnet as modnet_module
from core.modnet import MODNET_ONNX_MD5, FastMODNet, MODNet, inference_model, modnet_from_onnx
from core.weights import md5_of
from tests.conftest import BUNDLED_ONNX, ROOT

MODNET_ONNX = ROOT / "core" / "bundled_weights" / "modnet.onnx"


@pytest.fixture(scope="module")
def model() -> MODNet:
    """MODNet with the bundled official weights."""
    return modnet_from_onnx(MODNET_ONNX)


@pytest.fixture(scope="module")
def fast(model) -> FastMODNet:
    """The fast inference copy of the loaded model (oneDNN fused operators where this build has them)."""
    return inference_model(model)


@pytest.fixture(scope="module")
def session():
    """onnxruntime on the same file: the reference the PyTorch model must reproduce."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODNET_ONNX), options, providers=["CPUExecutionProvider"])


def _modnet_input(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """The reference preprocessing: area resize to height×width, (rgb − 127.5) / 127.5, float32 1×3×H×W."""
    resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.ascontiguousarray(((resized - 127.5) / 127.5).transpose(2, 0, 1)[None])


def test_bundled_file_is_the_official_export():
    assert md5_of(MODNET_ONNX) == MODNET_ONNX_MD5


# Height × width. At 512×672 the two float32 implementations differ by 9.6e-5 at one pixel (each is
# within 7e-5 of a float64 run of the same graph): correct, but too close to the bound for a stable test.
@pytest.mark.parametrize("height, width", [(672, 512), (384, 512)])
def test_matte_matches_onnxruntime_on_a_real_photo(model, session, astronaut, height, width):
    x = _modnet_input(astronaut, height, width)
    reference = session.run(["output"], {"input": x})[0]
    with torch.inference_mode():
        matte = model(torch.from_numpy(x)).numpy()
    assert matte.shape == reference.shape == (1, 1, height, width)
    assert matte.dtype == np.float32
    assert float(np.abs(matte - reference).max()) <= 1e-4
    # Not a vacuous match: the portrait is found (about half the frame is person, both mattes agree).
    assert 0.3 < float(matte.mean()) < 0.7 and float(matte.min()) < 0.01 and float(matte.max()) > 0.99


# Same photo, same bound, for the inference copy (BatchNorm folded, channels-last, fused convolutions, no
# torch.cat). Both sizes differ from the size its weights are packed for (PACKING_SIZE, 512×672), so this also
# covers oneDNN reordering a packed weight for another input size. Measured: 1.2e-5 and 9.8e-6 (the loaded
# model: 1.2e-5 and 2.5e-5).
@pytest.mark.parametrize("height, width", [(672, 512), (384, 512)])
def test_inference_copy_matches_onnxruntime_on_a_real_photo(fast, session, astronaut, height, width):
    x = _modnet_input(astronaut, height, width)
    reference = session.run(["output"], {"input": x})[0]
    with torch.inference_mode():
        matte = fast(torch.from_numpy(x)).numpy()
    assert matte.shape == reference.shape == (1, 1, height, width)
    assert matte.dtype == np.float32
    assert float(np.abs(matte - reference).max()) <= 1e-4
    assert 0.3 < float(matte.mean()) < 0.7 and float(matte.min()) < 0.01 and float(matte.max()) > 0.99


def test_inference_copy_uses_the_fused_operators_on_this_cpu(fast):
    # The CI build of PyTorch (x86-64, oneDNN) has them; elsewhere the plain-operator copy is the fallback.
    if not modnet_module._fused_ops_work():
        pytest.skip("this PyTorch build has no working oneDNN fused convolution operators")
    assert fast.fused


def test_plain_operator_copy_matches_onnxruntime_too(model, session, astronaut):
    """The fallback (no oneDNN fused operators, or a non-CPU device): same folding, F.conv2d on channels-last."""
    plain = inference_model(model, fused=False)
    assert not plain.fused
    x = _modnet_input(astronaut, 384, 512)
    reference = session.run(["output"], {"input": x})[0]
    with torch.inference_mode():
        matte = plain(torch.from_numpy(x)).numpy()
    assert float(np.abs(matte - reference).max()) <= 1e-4


def test_inference_copy_leaves_the_loaded_model_as_it_was(tmp_path):
    loaded = modnet_from_onnx(MODNET_ONNX)
    before = {key: tensor.clone() for key, tensor in loaded.state_dict().items()}
    copy = inference_model(loaded)
    after = loaded.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert parameter_count(loaded) == 6_459_553 and not loaded.training
    assert isinstance(loaded.lr_branch.conv_lr16x.layers[1].bnorm, torch.nn.BatchNorm2d)  # official layout kept
    assert not copy.training and parameter_count(copy) == 320 * 1280 * 2  # only the shared SE block


def test_inference_copy_runs_a_batch_like_single_images(model, fast, astronaut):
    x = np.concatenate([_modnet_input(astronaut, 128, 96), _modnet_input(astronaut[:, ::-1], 128, 96)])
    with torch.inference_mode():
        batch = fast(torch.from_numpy(x))
        singles = torch.cat([fast(torch.from_numpy(x[i : i + 1])) for i in range(2)])
        loaded = model(torch.from_numpy(x))
    assert batch.shape == (2, 1, 128, 96)
    assert float((batch - singles).abs().max()) <= 1e-5  # per-image InstanceNorm statistics
    assert float((batch - loaded).abs().max()) <= 1e-4


def test_inference_copy_refuses_what_the_model_refuses(fast):
    with pytest.raises(ValueError, match="multiples of 32"):
        fast(torch.zeros(1, 3, 500, 512))
    with pytest.raises(ValueError, match="N×3×H×W"):
        fast(torch.zeros(3, 512, 512))


def test_fused_operators_that_compute_something_else_are_not_used(monkeypatch):
    real = torch.ops.mkldnn._convolution_pointwise

    class OffByALittle:
        """The fused convolution, 1e-3 off: must fail the check against the plain operators."""

        binary = real.binary

        def __call__(self, *args):
            return real(*args) + 1e-3

    monkeypatch.setattr(torch.ops.mkldnn, "_convolution_pointwise", OffByALittle())
    assert not modnet_module._fused_ops_work()


def test_parameter_count_is_the_published_one(model):
    # "6.46 M": every weight of the export except the 688 BatchNorm running statistics (buffers).
    assert parameter_count(model) == 6_459_553
    assert parameter_count(MODNet()) == 6_459_553
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training


def test_official_names_hold_the_exported_weights(model):
    """Every initializer the exporter kept by name is the same tensor under that name in our model."""
    import onnx
    from onnx import numpy_helper

    state = model.state_dict()
    named = [i for i in onnx.load(str(MODNET_ONNX)).graph.initializer if "." in i.name]
    assert len(named) == 17 * 2 + 16 * 4  # 17 branch convs (weight, bias) + 16 IBNorm BatchNorms
    for initializer in named:
        assert torch.equal(state[initializer.name], torch.from_numpy(numpy_helper.to_array(initializer).copy()))
    assert state["lr_branch.se_block.fc.0.weight"].shape == (320, 1280)
    assert state["backbone.model.features.18.0.weight"].shape == (1280, 320, 1, 1)
    assert model.lr_branch.backbone is model.backbone  # shared, as in the reference


def test_sizes_that_are_not_multiples_of_32_are_refused(model):
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 500, 512))
    with pytest.raises(ValueError, match="N×3×H×W"):
        model(torch.zeros(3, 512, 512))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-1], id="last-byte-missing"),
        pytest.param(lambda data: bytes(range(256)) * 64, id="garbage"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_unreadable_file_is_a_clear_weights_error(tmp_path, content):
    broken = tmp_path / "modnet.onnx"
    broken.write_bytes(content(MODNET_ONNX.read_bytes()))
    with pytest.raises(WeightsError, match=MODNET_ONNX_MD5):
        modnet_from_onnx(broken)


def test_missing_file_and_other_network_are_clear_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        modnet_from_onnx(tmp_path / "modnet.onnx")
    with pytest.raises(WeightsError, match="119 Conv nodes, MODNet has 69"):
        modnet_from_onnx(BUNDLED_ONNX)  # a valid ONNX file, but U²-Net†


def _mutate_resize_mode(graph) -> None:
    resize = next(n for n in graph.node if n.op_type == "Resize")
    next(a for a in resize.attribute if a.name == "mode").s = b"nearest"


def _swap_two_same_shaped_convs(graph) -> None:
    first, second = (n for n in graph.node if n.input[1:2] in (["hr_branch.conv_hr2x.2.layers.0.weight"],
                                                                 ["hr_branch.conv_hr2x.3.layers.0.weight"]))
    first.input[1], second.input[1] = second.input[1], first.input[1]


@pytest.mark.parametrize(
    "mutate, message",
    [(_mutate_resize_mode, "Resize node"), (_swap_two_same_shaped_convs, "weight name")],
    ids=["resize-mode", "swapped-convs"],
)
def test_a_graph_that_computes_something_else_is_refused(tmp_path, mutate, message):
    import onnx

    proto = onnx.load(str(MODNET_ONNX))
    mutate(proto.graph)
    altered = tmp_path / "altered.onnx"
    onnx.save(proto, str(altered))
    with pytest.raises(WeightsError, match=message):
        modnet_from_onnx(altered)
