"""Tests for the offline before/after comparison slider in ui/compare.py."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui.compare import comparison_html, png_data_uri

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _decode(uri: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    img = Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):])))
    assert img.format == "PNG"
    return np.asarray(img)


def _pair(h: int = 60, w: int = 90):
    """A warm RGB gradient 'before' and a cool RGBA 'after': an opaque ellipse on transparent pixels."""
    yy, xx = np.mgrid[0:h, 0:w]
    before = np.stack([np.full((h, w), 230), (xx * 255 // w), (yy * 255 // h)], -1).astype(np.uint8)
    after = np.zeros((h, w, 4), np.uint8)
    after[..., 2] = 200
    after[..., 1] = (xx * 255 // w).astype(np.uint8)
    inside = (yy - h / 2) ** 2 / (h / 2.5) ** 2 + (xx - w / 2) ** 2 / (w / 2.5) ** 2 <= 1
    after[..., 3] = np.where(inside, 255, 0).astype(np.uint8)
    return before, after


@pytest.mark.parametrize("channels", [None, 3, 4])
def test_data_uri_roundtrips_exact_pixels(channels):
    rng = np.random.default_rng(0)
    shape = (17, 23) if channels is None else (17, 23, channels)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    if channels == 4:
        img[0, 0, 3] = 0  # fully transparent pixel must survive (no JPEG, no alpha drop)
        img[1, 1, 3] = 128
    out = _decode(png_data_uri(img))
    assert out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def test_data_uri_accepts_non_contiguous_views():
    img = np.arange(40 * 30 * 3, dtype=np.uint8).reshape(40, 30, 3)[::2, ::-1]
    np.testing.assert_array_equal(_decode(png_data_uri(img)), img)


def test_bad_dtype_and_shape_rejected():
    with pytest.raises(TypeError, match="uint8"):
        png_data_uri(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="HxW"):
        png_data_uri(np.zeros((4, 4, 2), np.uint8))


def test_html_embeds_both_images_losslessly():
    before, after = _pair()
    doc = comparison_html(before, after)
    uris = re.findall(r'src="(data:image/png;base64,[^"]+)"', doc)
    assert len(uris) == 2
    np.testing.assert_array_equal(_decode(uris[0]), before)
    np.testing.assert_array_equal(_decode(uris[1]), after)
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert 'id="compare-range"' in doc and 'type="range"' in doc and "aria-label=" in doc
    assert 'width="90" height="60"' in doc
    assert "conic-gradient" in doc  # checkerboard behind transparent pixels


def test_grey_images_accepted():
    grey = np.tile(np.arange(32, dtype=np.uint8) * 8, (20, 1))
    doc = comparison_html(grey, 255 - grey)
    uris = re.findall(r'src="(data:image/png;base64,[^"]+)"', doc)
    np.testing.assert_array_equal(_decode(uris[0]), grey)


def test_labels_are_escaped_and_not_in_script():
    before, after = _pair()
    evil = "<script>alert(1)</script>"
    doc = comparison_html(before, after, before_label=evil, after_label='a"b&__W__')
    assert evil not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "a&quot;b&amp;__W__" in doc  # placeholders inside labels are not re-substituted
    script = doc.split("<script>", 1)[1].split("</script>", 1)[0]
    assert "alert" not in script and "a&quot;b" not in script
    assert doc.count("<script>") == 1


def test_no_external_urls():
    before, after = _pair()
    doc = comparison_html(before, after)
    assert "http://" not in doc and "https://" not in doc
    assert "//" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", doc)


def test_mismatched_sizes_raise():
    with pytest.raises(ValueError, match="same size.*90x60.*91x60"):
        comparison_html(np.zeros((60, 90, 3), np.uint8), np.zeros((60, 91, 4), np.uint8))


@pytest.mark.parametrize("start,expected", [(50.0, "50"), (12.34, "12.3"), (-5, "0"), (250, "100")])
def test_start_position_appears(start, expected):
    before, after = _pair()
    doc = comparison_html(before, after, start=start)
    assert f'data-position="{expected}"' in doc
    assert f'value="{expected}"' in doc
    assert f"inset(0 0 0 {expected}%)" in doc


def test_non_finite_start_rejected():
    before, after = _pair()
    with pytest.raises(ValueError, match="finite"):
        comparison_html(before, after, start=float("nan"))


def test_image_comparison_renders_iframe():
    from streamlit.testing.v1 import AppTest

    def app():
        import numpy as np

        from ui.compare import image_comparison

        img = np.zeros((10, 12, 3), np.uint8)
        image_comparison(img, img, before_label="Original", after_label="Cut-out", start=30)

    at = AppTest.from_function(app).run()
    assert not at.exception
    iframes = [el for el in at.get("iframe")]
    assert len(iframes) == 1
    srcdoc = iframes[0].proto.srcdoc
    assert 'data-position="30"' in srcdoc and "Cut-out" in srcdoc


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="browser test needs Debian chromium at /usr/bin/chromium")
def test_slider_moves_in_chromium():
    from playwright.sync_api import sync_playwright

    before, after = _pair(300, 450)
    doc = comparison_html(before, after, before_label="<b>Original</b>", after_label="Cut-out", start=50)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        try:
            page = browser.new_page(viewport={"width": 600, "height": 400})
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.set_content(doc)
            page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            root = page.locator("#compare")
            after_layer = page.locator("#compare .after")
            clip = "el => getComputedStyle(el).clipPath"
            assert root.get_attribute("data-position") == "50"
            assert after_layer.evaluate(clip) == "inset(0px 0px 0px 50%)"
            assert page.locator(".label.l").inner_text() == "<b>Original</b>"  # shown as text, not markup

            page.locator("#compare-range").fill("20")
            assert root.get_attribute("data-position") == "20"
            assert after_layer.evaluate(clip) == "inset(0px 0px 0px 20%)"
            assert page.locator("#compare .handle").evaluate("el => el.style.left") == "20%"

            page.locator("#compare-range").evaluate(
                "el => { el.value = '75.5'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
            assert root.get_attribute("data-position") == "75.5"

            page.locator("#compare-range").focus()
            page.keyboard.press("ArrowLeft")
            assert float(root.get_attribute("data-position")) == pytest.approx(75.4)

            page.locator("#compare-range").fill("20")
            page.locator("#compare-range").blur()
            box = root.bounding_box()
            assert box["width"] == pytest.approx(450) and box["height"] == pytest.approx(300)
            root.screenshot(path=str(ARTIFACTS / "compare.png"))

            # Narrow viewport: scales down, keeps the aspect ratio.
            page.set_viewport_size({"width": 225, "height": 400})
            box = root.bounding_box()
            assert box["width"] == pytest.approx(225) and box["height"] == pytest.approx(150, abs=1)
            assert all(u.startswith(("data:", "about:")) for u in requests), requests
        finally:
            browser.close()
