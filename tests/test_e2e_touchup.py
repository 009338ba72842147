"""End to end in real headless Chromium: an erase stroke on the Touch-up page reaches the result and the download."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser_support import (
    ARTIFACTS, chromium_browser, click_download, go_to, require_chromium, streamlit_server, wait_for_idle, watch_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Where the stroke goes on the sample portrait (fractions of width and height): across the face.
STROKE = ((0.40, 0.26), (0.60, 0.26))
CENTRE = (0.50, 0.26)


def _canvas_point(box: dict, fx: float, fy: float, width: int, height: int) -> tuple[float, float]:
    """Screen position of an image fraction on the canvas while the photo is fitted (the page's initial view)."""
    scale = min(box["width"] / width, box["height"] / height)
    ox, oy = (box["width"] - width * scale) / 2, (box["height"] - height * scale) / 2
    return box["x"] + ox + fx * width * scale, box["y"] + oy + fy * height * scale


def _wait_drawn(page, revision: int) -> None:
    """Wait until the canvas has drawn the picture of edit-list revision `revision` (Python's redraw)."""
    page.locator(f".ps-touchup[data-drawn='{revision}']").wait_for(state="attached", timeout=60_000)


def _result_pixel(page) -> np.ndarray:
    """The Replace page's result picture (fetched from the server), RGB at the stroke's centre."""
    images = page.get_by_test_id("stImage").locator("img")
    source = images.nth(2).get_attribute("src")  # Original, Mask, Result
    picture = np.asarray(Image.open(io.BytesIO(page.request.get(source).body())).convert("RGB"))
    h, w = picture.shape[:2]
    return picture[int(CENTRE[1] * h), int(CENTRE[0] * w)]


def test_an_erase_stroke_reaches_the_result_and_the_download_and_undo_brings_it_back(tmp_path):
    require_chromium()
    with streamlit_server() as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        problems = watch_page(page)

        page.goto(server.url)
        wait_for_idle(page)
        page.get_by_role("button", name="Run the demo on a sample portrait").click()
        page.get_by_text("Cut out (transparent background)").wait_for(timeout=90_000)
        go_to(page, "Replace background")
        page.get_by_text("Done: astronaut.jpg").wait_for(timeout=90_000)
        skin = _result_pixel(page)
        assert skin.min() < 200  # the face, not the white background

        go_to(page, "Touch up")
        canvas = page.locator("canvas.ps-canvas")
        canvas.wait_for(timeout=30_000)
        _wait_drawn(page, 0)
        page.screenshot(path=ARTIFACTS / "touchup-01-before.png")
        box = canvas.bounding_box()
        start, end = (_canvas_point(box, *p, 512, 512) for p in STROKE)
        page.mouse.move(*start)
        page.mouse.down()
        for t in np.linspace(0, 1, 25):
            page.mouse.move(start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        page.mouse.up()
        _wait_drawn(page, 1)  # one stroke, one message, one redraw
        wait_for_idle(page)
        page.screenshot(path=ARTIFACTS / "touchup-02-erased.png")
        assert page.get_by_text("1 edit on astronaut.jpg").count() == 1
        saved_edits = click_download(page, "Save edits (.json)")
        edits = json.loads(Path(saved_edits.path()).read_text())["edits"]
        assert [(e["mode"], e["radius"], e.get("snap", True)) for e in edits] == [("erase", 0.02, True)]
        assert len(edits[0]["points"]) > 5  # the whole drag, sent once on release

        go_to(page, "Replace background")
        erased = _result_pixel(page)
        assert erased.min() > 240  # the white background shows through where the face was erased
        page.screenshot(path=ARTIFACTS / "touchup-03-replace.png")
        download = click_download(page, "Cut-out (transparent PNG)")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        alpha = np.asarray(Image.open(saved))[..., 3]
        h, w = alpha.shape
        assert alpha[int(CENTRE[1] * h), int(CENTRE[0] * w)] == 0
        assert alpha[int(0.8 * h), int(0.3 * w)] == 255  # the suit is still there

        go_to(page, "Touch up")
        canvas.wait_for(timeout=30_000)
        page.keyboard.press("Control+z")  # the shortcut: undo
        _wait_drawn(page, 2)
        wait_for_idle(page)
        assert page.get_by_text("0 edits on astronaut.jpg").count() == 1
        page.screenshot(path=ARTIFACTS / "touchup-04-undone.png")
        go_to(page, "Replace background")
        np.testing.assert_array_equal(_result_pixel(page), skin)

        assert not problems.errors, problems.errors
        assert not problems.outside, problems.outside


def test_at_100_percent_the_canvas_shows_the_full_size_photo(tmp_path, astronaut):
    """A photo larger than the preview: zoomed to 100 %, the visible part comes from the full-size photo."""
    require_chromium()
    big = tmp_path / "big.png"
    Image.fromarray(astronaut).resize((2048, 2048), Image.NEAREST).save(big)  # 4 px blocks: crisp at 100 %
    with streamlit_server() as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        problems = watch_page(page)
        page.goto(server.url)
        wait_for_idle(page)
        go_to(page, "Replace background")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(big))
        page.get_by_text("Done: big.png").wait_for(timeout=120_000)
        go_to(page, "Touch up")
        _wait_drawn(page, 0)
        assert page.locator(".ps-touchup[data-detail]").count() == 0  # fitted: the preview is enough
        box = page.locator("canvas.ps-canvas").bounding_box()
        page.mouse.move(*_canvas_point(box, 0.5, 0.3, 1280, 1280))
        page.keyboard.press("1")
        assert page.locator(".ps-zoom").text_content() == "100 %"
        page.locator(".ps-touchup[data-detail='0']").wait_for(state="attached", timeout=60_000)
        wait_for_idle(page)
        page.screenshot(path=ARTIFACTS / "touchup-05-full-size.png")
        assert not problems.errors, problems.errors
