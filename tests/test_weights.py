"""Weights: registry, search order, safe download, .pth and .onnx loading, and refusal of bad files."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core import weights
from core.errors import WeightsError, WeightsUnavailableError
from core.model import build_model
from core.segmentation import preprocess
from core.weights import (
    REGISTRY,
    get_spec,
    load_weights,
    model_from_onnx,
    model_from_pth,
    read_pth_state_dict,
)
from tests.conftest import BUNDLED_ONNX


def test_registry_entries_carry_file_checksum_address_and_preprocessing():
    assert list(REGISTRY) == ["auto", "modnet", "u2netp", "u2net", "u2net_human_seg"]
    assert REGISTRY["u2netp"].bundled and REGISTRY["u2netp"].md5 == "8e83ca70e441ab06c318d82300c84806"
    assert REGISTRY["modnet"].bundled and REGISTRY["modnet"].md5 == "d0ded73e80bc0d38a64e2286486e4ea3"
    assert REGISTRY["u2net_human_seg"].architecture == "u2net"
    for spec in REGISTRY.values():
        assert spec.description and spec.good_at
        if spec.members:  # a combination: no file of its own, members that are bundled single networks
            assert not spec.filename and all(REGISTRY[m].bundled and not REGISTRY[m].members for m in spec.members)
            continue
        assert len(spec.md5) == 32
        assert spec.bundled or spec.url.endswith("/" + spec.filename)
        if spec.architecture == "modnet":  # preprocessing facts beside the weights entry
            facts = spec.input
            assert (facts.size, facts.square, facts.scale, facts.output) == (512, False, "255", "matte")
            assert facts.mean == facts.std == (0.5, 0.5, 0.5) and facts.mirror_combine == "mean"
        else:
            facts = spec.input
            assert (facts.size, facts.square, facts.scale, facts.output) == (320, True, "max", "saliency")
            assert facts.mean == (0.485, 0.456, 0.406) and facts.std == (0.229, 0.224, 0.225)
    with pytest.raises(WeightsError, match="choose one of"):
        get_spec("u3net")


def test_bundled_file_is_the_official_u2netp_export():
    assert weights.md5_of(BUNDLED_ONNX) == REGISTRY["u2netp"].md5


@pytest.fixture(scope="module")
def imported_u2netp():
    return model_from_onnx(BUNDLED_ONNX, "u2netp")


def test_onnx_import_matches_onnxruntime_within_1e_4(imported_u2netp, astronaut):
    ort = pytest.importorskip("onnxruntime")
    x = preprocess(astronaut, REGISTRY["u2netp"])
    session = ort.InferenceSession(str(BUNDLED_ONNX), providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: x})
    with torch.inference_mode():
        ours = imported_u2netp(torch.from_numpy(x))
    assert len(reference) == len(ours) == 7
    assert np.abs(reference[0] - ours[0].numpy()).max() < 1e-4
    assert reference[0].max() > 0.9 and reference[0].min() < 0.1  # a real portrait mask was compared


def test_pth_round_trip_loads_strictly_and_gives_the_same_output(imported_u2netp, tmp_path):
    path = tmp_path / "u2netp.pth"
    torch.save(imported_u2netp.state_dict(), path)
    reloaded = model_from_pth(path)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(reloaded(x)[0], imported_u2netp(x)[0])


def test_pth_with_module_prefix_and_nested_state_dict_is_accepted(tmp_path):
    model = build_model("u2netp")
    path = tmp_path / "dp.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, path)
    state = read_pth_state_dict(path)
    assert set(state) == set(model.state_dict())
    assert type(model_from_pth(path)).__name__ == "U2NETP"


def test_pth_that_is_not_a_u2net_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(WeightsError, match="not a U²-Net checkpoint"):
        model_from_pth(path)


def test_truncated_pth_and_onnx_give_clear_errors(imported_u2netp, tmp_path):
    pth = tmp_path / "cut.pth"
    torch.save(imported_u2netp.state_dict(), pth)
    pth.write_bytes(pth.read_bytes()[: pth.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        model_from_pth(pth)
    onnx_file = tmp_path / "cut.onnx"
    onnx_file.write_bytes(BUNDLED_ONNX.read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="ONNX"):
        model_from_onnx(onnx_file)


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (MARKER,))


MARKER = Path()


def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    global MARKER
    MARKER = tmp_path / "code-was-executed"
    path = tmp_path / "evil.pth"
    torch.save({"stage1.rebnconvin.conv_s1.weight": torch.zeros(1), "payload": _Exploit()}, path)
    # Under plain pickle this file runs Path.touch: prove the payload is live before trusting the test.
    torch.load(path, weights_only=False)
    assert MARKER.exists()
    MARKER.unlink()
    with pytest.raises(WeightsError, match="could run code"):
        read_pth_state_dict(path)
    assert not MARKER.exists()


def test_tampered_known_file_fails_the_md5_check_before_use(tmp_path):
    tampered = tmp_path / "u2netp.onnx"
    data = bytearray(BUNDLED_ONNX.read_bytes())
    data[-10] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="truncated, corrupt or has been altered"):
        load_weights("u2netp", path=tampered)


def test_a_pth_under_a_known_name_is_md5_checked(tmp_path):
    """A loadable state dict saved as `u2netp.pth` is not the official file: refused, like a renamed .onnx."""
    state = load_weights("u2netp").model.state_dict()
    state = {name: tensor.clone() for name, tensor in state.items()}
    next(iter(state.values())).add_(0.5)  # altered weights, same layout: strict loading alone would accept them
    torch.save(state, tmp_path / "u2netp.pth")
    with pytest.raises(WeightsError, match="not the official u2netp.pth"):
        load_weights("u2netp", path=tmp_path / "u2netp.pth")
    torch.save(state, tmp_path / "my-finetune.pth")  # the user's own training, under its own name, still loads
    assert load_weights("u2netp", path=tmp_path / "my-finetune.pth").model is not None


def test_an_oversized_weights_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as handle:  # sparse: 2 GB on paper, nothing on disk
        handle.truncate(2 << 30)
    monkeypatch.setattr(weights, "md5_of", lambda path: pytest.fail("hashed a file it should refuse by size"))
    with pytest.raises(WeightsError, match="larger than any supported model"):
        load_weights("u2netp", path=huge)


def test_a_bad_files_verdict_is_remembered_until_it_changes(tmp_path, monkeypatch):
    tampered = tmp_path / "u2netp.onnx"
    tampered.write_bytes(b"not the model")
    hashed = []
    real_md5 = weights.md5_of
    monkeypatch.setattr(weights, "md5_of", lambda path: hashed.append(path) or real_md5(path))
    for _ in range(3):
        with pytest.raises(WeightsError, match="truncated, corrupt or has been altered"):
            load_weights("u2netp", path=tampered)
    assert len(hashed) == 1
    tampered.write_bytes(b"not the model either")  # another size: judged again
    with pytest.raises(WeightsError):
        load_weights("u2netp", path=tampered)
    assert len(hashed) == 2


def test_search_order_is_bundled_folder_then_u2net_home(tmp_path, monkeypatch):
    bundled, home = tmp_path / "bundled_weights", tmp_path / "home"
    bundled.mkdir()
    home.mkdir()
    monkeypatch.setattr(weights, "BUNDLED_WEIGHTS_DIR", bundled)
    monkeypatch.setenv("U2NET_HOME", str(home))
    spec = REGISTRY["u2net"]
    assert weights.find_weights(spec) is None
    (home / "u2net.pth").write_bytes(b"x")
    assert weights.find_weights(spec) == home / "u2net.pth"
    (home / "u2net.onnx").write_bytes(b"x")
    assert weights.find_weights(spec) == home / "u2net.onnx"
    (bundled / "u2net.onnx").write_bytes(b"x")
    assert weights.find_weights(spec) == bundled / "u2net.onnx"
    monkeypatch.delenv("U2NET_HOME")
    assert weights.download_dir() == Path.home() / ".u2net"


def test_missing_weights_without_download_name_file_address_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "BUNDLED_WEIGHTS_DIR", tmp_path / "none")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "home"))
    with pytest.raises(WeightsUnavailableError) as info:
        load_weights("u2net_human_seg", allow_download=False)
    message = str(info.value)
    assert "u2net_human_seg.onnx" in message and REGISTRY["u2net_human_seg"].url in message
    assert str(tmp_path / "home") in message


# ---------------------------------------------------------------- download against a local server

PAYLOAD = bytes(range(256)) * 1000  # 256 kB


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path == "/short":  # claims more bytes than it sends, like a dropped connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
            return
        if self.path != "/weights.onnx":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def tiny_spec(server):
    return replace(
        REGISTRY["u2net"], name="tiny", filename="tiny.onnx",
        md5=hashlib.md5(PAYLOAD).hexdigest(), url=f"{server}/weights.onnx",
    )


def test_download_reports_progress_verifies_md5_and_renames_into_place(tiny_spec, tmp_path):
    seen = []
    path = weights.download_weights(tiny_spec, dest_dir=tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "tiny.onnx" and path.read_bytes() == PAYLOAD
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(seen) > 2 and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx"]


def test_download_with_wrong_md5_is_rejected_and_leaves_nothing(tiny_spec, tmp_path):
    with pytest.raises(WeightsError, match="discarded"):
        weights.download_weights(replace(tiny_spec, md5="0" * 32), dest_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_nothing(tiny_spec, server, tmp_path):
    with pytest.raises(WeightsUnavailableError):
        weights.download_weights(tiny_spec, dest_dir=tmp_path, url=f"{server}/short")
    assert list(tmp_path.iterdir()) == []


def test_download_without_network_names_file_address_and_folder(tiny_spec, tmp_path):
    with pytest.raises(WeightsUnavailableError) as info:
        weights.download_weights(tiny_spec, dest_dir=tmp_path, url="http://127.0.0.1:9/tiny.onnx", timeout=5)
    message = str(info.value)
    assert "tiny.onnx" in message and "http://127.0.0.1:9/tiny.onnx" in message and str(tmp_path) in message
    assert list(tmp_path.iterdir()) == []


def test_ensure_weights_downloads_on_first_use_then_finds_the_file(tiny_spec, tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "BUNDLED_WEIGHTS_DIR", tmp_path / "none")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "home"))
    calls = []
    first = weights.ensure_weights(tiny_spec, progress=lambda d, t: calls.append(d))
    assert first == tmp_path / "home" / "tiny.onnx" and calls
    calls.clear()
    assert weights.ensure_weights(tiny_spec, progress=lambda d, t: calls.append(d)) == first
    assert calls == []  # found on disk: no second download


def test_downloaded_real_model_file_loads(server, tmp_path, monkeypatch):
    """A download of the real u2netp file goes through the same md5 check and loads."""
    served = tmp_path / "srv"
    served.mkdir()
    shutil.copy(BUNDLED_ONNX, served / "u2netp.onnx")
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        spec = replace(REGISTRY["u2netp"], url=f"http://127.0.0.1:{httpd.server_address[1]}/u2netp.onnx")
        path = weights.download_weights(spec, dest_dir=tmp_path / "home")
        monkeypatch.setitem(REGISTRY, "u2netp", spec)
        loaded = load_weights("u2netp", path=path)
        assert loaded.path == path and type(loaded.model).__name__ == "U2NETP"
    finally:
        httpd.shutdown()


def test_the_registry_parameter_counts_are_the_models():
    from core.model import build_model, parameter_count
    from core.segmentation import get_segmenter

    assert REGISTRY["u2netp"].parameters == parameter_count(build_model("u2netp"))
    assert REGISTRY["u2net"].parameters == REGISTRY["u2net_human_seg"].parameters == parameter_count(build_model("u2net"))
    modnet = get_segmenter("modnet", "cpu", allow_download=False)
    assert REGISTRY["modnet"].parameters == parameter_count(modnet.model)
    assert REGISTRY["auto"].parameters == REGISTRY["modnet"].parameters + REGISTRY["u2netp"].parameters
