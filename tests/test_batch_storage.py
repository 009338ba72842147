"""`python -m core batch` from and to object storage: a local S3 server (moto's server mode) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from tests.cli_support import cli

pytest.importorskip("moto", reason="moto is not installed (pip install -r requirements-dev.txt)")
from pyarrow import fs as pafs  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server on 127.0.0.1 → its endpoint URL; stopped at the end of the module."""
    server = shutil.which("moto_server")
    if server is None:
        pytest.skip("moto_server is not on PATH (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the moto S3 server did not start")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bucket(s3_server, monkeypatch, astronaut, request):
    """A fresh bucket holding in/a.jpg, in/day2/b.jpg and in/day2/broken.jpg; the AWS variables point at the
    server → (bucket name, a pyarrow filesystem on it)."""
    for name, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3 = pafs.S3FileSystem(endpoint_override=s3_server, access_key="test", secret_key="test", region="us-east-1",
                           allow_bucket_creation=True)
    name = f"studio-{request.node.name[-20:].lower().replace('_', '-').strip('-')}"
    s3.create_dir(name)
    for key, pixels in {"in/a.jpg": astronaut[:300, :300], "in/day2/b.jpg": astronaut[::-1][:280, 60:340]}.items():
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "JPEG", quality=92)
        with s3.open_output_stream(f"{name}/{key}") as stream:
            stream.write(buffer.getvalue())
    with s3.open_output_stream(f"{name}/in/day2/broken.jpg") as stream:
        stream.write(b"\xff\xd8 not a JPEG")
    return name, s3


def keys(s3: pafs.FileSystem, prefix: str) -> list[str]:
    infos = s3.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return sorted(info.path[len(prefix) + 1:] for info in infos if info.type == pafs.FileType.File)


def manifests(s3: pafs.FileSystem, prefix: str) -> list[list[dict]]:
    runs = [key for key in keys(s3, prefix) if key.startswith("_runs/")]
    contents = []
    for key in runs:
        with s3.open_input_stream(f"{prefix}/{key}") as stream:
            contents.append([json.loads(line) for line in stream.read().decode().splitlines()])
    return contents


def test_batch_reads_and_writes_object_storage_and_a_rerun_skips(bucket, tmp_path, monkeypatch, segmenter):
    monkeypatch.setattr("core.segmentation.get_segmenter", lambda *a, **k: segmenter)
    name, s3 = bucket
    status, out, err = cli("batch", f"s3://{name}/in", f"s3://{name}/out", "--model", "u2netp")
    assert status == 1, err
    assert [key for key in keys(s3, f"{name}/out") if not key.startswith("_runs/")] == ["a.png", "day2/b.png"]
    (rows,) = manifests(s3, f"{name}/out")
    assert sorted((row["input"], row["status"]) for row in rows) == [
        (f"s3://{name}/in/a.jpg", "written"), (f"s3://{name}/in/day2/b.jpg", "written"),
        (f"s3://{name}/in/day2/broken.jpg", "failed"),
    ]
    # The same photo from a local folder gives the same bytes.
    (tmp_path / "in").mkdir()
    with s3.open_input_stream(f"{name}/in/a.jpg") as stream:
        (tmp_path / "in" / "a.jpg").write_bytes(stream.read())
    assert cli("cutout", tmp_path / "in" / "a.jpg", "-o", tmp_path / "a.png", "--model", "u2netp")[0] == 0
    with s3.open_input_stream(f"{name}/out/a.png") as stream:
        assert stream.read() == (tmp_path / "a.png").read_bytes()

    status, out, _ = cli("batch", f"s3://{name}/in", f"s3://{name}/out", "--model", "u2netp")
    assert status == 1 and "1 photos to process, 2 already in" in out
    assert len(manifests(s3, f"{name}/out")) == 2


def test_object_storage_errors_are_messages(bucket):
    name, _ = bucket
    status, _, err = cli("batch", f"s3://{name}/nothing-here", f"s3://{name}/out")
    assert status == 2 and "No photos" in err and "Traceback" not in err
    status, _, err = cli("batch", f"s3://{name}/in", f"s3://{name}")
    assert status == 2 and "outputs would land among the photos" in err


@pytest.mark.slow
def test_ray_workers_read_and_write_object_storage(bucket):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
    name, s3 = bucket
    status, _, err = cli("batch", f"s3://{name}/in", f"s3://{name}/out", "--engine", "ray", "--workers", "2",
                         "--model", "u2netp")
    assert status == 1, err
    assert [key for key in keys(s3, f"{name}/out") if not key.startswith("_runs/")] == ["a.png", "day2/b.png"]
    (rows,) = manifests(s3, f"{name}/out")
    assert sorted(row["status"] for row in rows) == ["failed", "written", "written"]
