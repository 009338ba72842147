"""The Replace page's composition controls (AppTest): ID-photo preset, framing, shadow, blur strength, output file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.id_presets import ID_PRESETS
from tests.app_support import REPLACE, assert_clean, encode, go, new_app, synthetic_portrait, upload


@pytest.fixture(scope="module")
def astronaut_png(astronaut) -> bytes:
    return encode(astronaut, "PNG")


def replace_page(data: bytes, name: str = "astronaut.png") -> AppTest:
    at = new_app()
    assert_clean(go(at, REPLACE))
    return assert_clean(upload(at, name, data))


def result_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Result:"))


def download(at: AppTest, media, key: str) -> Image.Image:
    button = next(b for b in at.get("download_button") if b.key == key)
    return Image.open(io.BytesIO(media.download(button)))


def test_the_passport_preset_gives_its_pixel_size_dpi_and_light_background(media, astronaut_png):
    at = replace_page(astronaut_png)
    assert result_caption(at) == "Result: 512 × 512 px"
    assert_clean(at.selectbox(key="frame_id_photo").set_value("passport-35x45").run())
    assert at.radio(key="background_kind").value == "color"  # the preset brought its plain light background
    assert at.color_picker(key="background_color").value == "#eeeeee"
    assert result_caption(at) == "Result: 413 × 531 px at 300 DPI"
    assert any("enlarged" in c.value for c in at.caption)  # the small photo's head is enlarged: it says so
    for key, fmt in (("download_png", "PNG"), ("download_jpeg", "JPEG")):
        with download(at, media, key) as img:
            assert (img.format, img.size) == (fmt, (413, 531))
            assert img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
            corner = np.asarray(img.convert("RGB"))[:15, :15].astype(int)
            assert np.abs(corner - ID_PRESETS["passport-35x45"].background).max() <= 2
    with download(at, media, "download_cutout") as img:
        assert img.size == (413, 531) and img.mode == "RGBA"
    # 600 DPI asks too much of a 512-px photo: the page says why, in words.
    at.slider(key="frame_dpi").set_value(600.0).run()
    assert "lower DPI" in " ".join(e.value for e in at.error)
    assert not at.exception


def test_a_photo_without_a_face_says_so(media):
    at = replace_page(encode(synthetic_portrait(seed=5), "PNG"), "blob.png")
    at.selectbox(key="frame_id_photo").set_value("passport-35x45").run()
    assert not at.exception
    assert "No face found" in " ".join(e.value for e in at.error)


def test_framing_shadow_and_blur_controls_change_the_result(media, astronaut_png):
    at = replace_page(astronaut_png)
    at.toggle(key="frame_frame").set_value(True).run()
    assert_clean(at.selectbox(key="frame_size").set_value("1080x1080").run())
    assert result_caption(at) == "Result: 1080 × 1080 px"
    with download(at, media, "download_png") as img:
        plain = np.asarray(img.convert("RGB")).astype(int)
        assert img.size == (1080, 1080)
    assert_clean(at.toggle(key="shadow_shadow").set_value(True).run())
    with download(at, media, "download_png") as img:
        shadowed = np.asarray(img.convert("RGB")).astype(int)
    assert (shadowed <= plain).all() and (shadowed < plain - 20).any()

    assert_clean(at.radio(key="background_kind").set_value("blur").run())
    strength = at.slider(key="blur_blur_strength_pct")
    assert strength.value == 2.0
    with download(at, media, "download_png") as img:
        soft = np.asarray(img.convert("RGB")).astype(int)
    assert_clean(strength.set_value(10.0).run())
    assert_clean(at.selectbox(key="blur_blur_kernel").set_value("disc").run())
    with download(at, media, "download_png") as img:
        strong = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(np.diff(strong[:150, :150], axis=1)).mean() < np.abs(np.diff(soft[:150, :150], axis=1)).mean()


def test_quality_and_lossless_webp(media, astronaut_png):
    at = replace_page(astronaut_png)
    sizes = {}
    for quality in (95.0, 30.0):
        assert_clean(at.slider(key="output_quality").set_value(quality).run())
        button = next(b for b in at.get("download_button") if b.key == "download_jpeg")
        sizes[quality] = len(media.download(button))
    assert sizes[30.0] < 0.7 * sizes[95.0]
    assert_clean(at.toggle(key="output_lossless").set_value(True).run())
    with download(at, media, "download_webp") as webp, download(at, media, "download_png") as png:
        np.testing.assert_array_equal(np.asarray(webp), np.asarray(png))
