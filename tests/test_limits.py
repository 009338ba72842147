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
