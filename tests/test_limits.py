"""Pixel limits: configurable soft (working) and hard (refuse) limits, from the CLI and the environment."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

import core.limits as limits
from core.cli import run
from core.errors import ImageTooLargeError, SettingsError
from core.imageio import decode_image
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def restore_limits():
    saved = limits.pixel_limits()
    yield
    limits.set_pixel_limits(saved.max_pixels / 1e6, saved.working_pixels / 1e6)


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_defaults_and_validation():
    assert limits.pixel_limits() == limits.PixelLimits(max_pixels=100_000_000, working_pixels=4_000_000)
    with pytest.raises(SettingsError, match="working"):
        limits.set_pixel_limits(max_megapixels=1, working_megapixels=2)
    with pytest.raises(SettingsError, match="number of megapixels"):
        limits.set_pixel_limits(max_megapixels="lots")


def test_the_hard_limit_refuses_with_a_message_naming_it():
    limits.set_pixel_limits(max_megapixels=0.5, working_megapixels=0.25)
    assert Image.MAX_IMAGE_PIXELS == 500_000  # Pillow's own guard follows
    assert decode_image(_png(700, 700)).rgb.shape == (700, 700, 3)  # 0.49 MP: accepted
    with pytest.raises(ImageTooLargeError, match="limit of 0.5 MP"):
        decode_image(_png(800, 700))  # 0.56 MP: refused


def test_cli_flags_set_the_limits(tmp_path, astronaut):
    photo = tmp_path / "a.png"
    Image.fromarray(astronaut).save(photo)  # 512x512 = 0.26 MP
    err = io.StringIO()
    status = run(["mask", str(photo), "-o", str(tmp_path / "m.png"), "--max-megapixels", "0.2", "--working-megapixels", "0.1"],
                 stdout=io.StringIO(), stderr=err)
    assert status == 1 and "limit of 0.2 MP" in err.getvalue()
    assert limits.pixel_limits().working_pixels == 100_000


def test_environment_variable_configures_the_app_process(tmp_path):
    code = "import core.limits as l; print(l.pixel_limits().max_pixels, l.pixel_limits().working_pixels)"
    env = {"PORTRAIT_STUDIO_MAX_MEGAPIXELS": "60", "PORTRAIT_STUDIO_WORKING_MEGAPIXELS": "8", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["60000000", "8000000"], done.stderr


FIFTY_MP_SCRIPT = r"""
import io, sys
import numpy as np
from PIL import Image
from core.pipeline import process
from core.segmentation import get_segmenter
from core.composite import Background

def vm(kind):
    for line in open("/proc/self/status"):
        if line.startswith(kind):
            return int(line.split()[1]) // 1024

rng = np.random.default_rng(0)
small = rng.integers(0, 255, (86, 115, 3), dtype=np.uint8)
photo = np.asarray(Image.fromarray(small).resize((8660, 5774), Image.Resampling.BILINEAR))  # 50.0 MP
buffer = io.BytesIO()
Image.fromarray(photo).save(buffer, format="JPEG", quality=85)
data = buffer.getvalue()
del photo, buffer
segmenter = get_segmenter("u2netp", "cpu", allow_download=False)
baseline = vm("VmRSS")
result = process(data, segmenter, kind="composite", background=Background(kind="color"))
print(result.output.shape[0], result.output.shape[1], len(result.encoded) > 0, baseline, vm("VmHWM"))
"""


@pytest.mark.slow
def test_a_50_megapixel_photo_goes_through_in_bounded_memory():
    done = subprocess.run([sys.executable, "-c", FIFTY_MP_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    height, width, encoded, baseline_mb, peak_mb = done.stdout.split()
    assert (int(height), int(width), encoded) == (5774, 8660, "True")  # full size out
    assert int(peak_mb) < 2500, f"peak resident memory {peak_mb} MB for a 50 MP photo"  # measured: 1.66 GB
