"""End to end in real headless Chromium: demo, upload, transparent download, comparison slider, live tuning."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from tests.browser_support import (
    ARTIFACTS, chromium_browser, go_to, click_download, require_chromium, streamlit_server, wait_for_idle, wait_for_new_picture,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_dashboard_in_a_real_browser(tmp_path, astronaut):
    require_chromium()
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    with streamlit_server() as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # Home: the one-click demo.
        page.goto(server.url)
        wait_for_idle(page)
        page.get_by_role("button", name="Run the demo on a sample portrait").click()
        page.get_by_text("Cut out (transparent background)").wait_for(timeout=90_000)
        wait_for_idle(page)
        assert page.get_by_test_id("stImage").count() == 2
        page.screenshot(path=ARTIFACTS / "01-home.png", full_page=True)

        # Replace: upload a photo, wait for the result, choose transparency, download the cut-out.
        go_to(page, "Replace background")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(photo))
        page.get_by_text("Done: astronaut.png").wait_for(timeout=90_000)
        wait_for_idle(page)
        assert page.get_by_test_id("stImage").count() == 3
        page.get_by_test_id("stRadio").get_by_text("Transparent").click()
        wait_for_idle(page)
        download = click_download(page, "Cut-out (transparent PNG)")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        cutout = Image.open(saved)
        assert saved.name == "astronaut-cutout.png"
        assert cutout.mode == "RGBA" and cutout.size == (512, 512)
        alpha = np.asarray(cutout)[..., 3]
        assert alpha[:40, :40].max() < 10 and alpha[320:440, 100:230].min() > 245  # background clear, suit opaque
        page.screenshot(path=ARTIFACTS / "02-replace.png", full_page=True)

        # Inspector: move the before/after slider inside the component's iframe.
        go_to(page, "Mask inspector")
        frame = page.frame_locator("iframe").first
        slider = frame.locator("#compare-range")
        slider.wait_for(timeout=30_000)
        assert frame.locator("#compare").get_attribute("data-position") == "50"
        slider.fill("20")
        assert frame.locator("#compare").get_attribute("data-position") == "20"
        page.screenshot(path=ARTIFACTS / "03-inspector.png", full_page=True)

        # Inspector: compare the two networks and the combination, with the rule's decision in words.
        page.get_by_test_id("stRadio").get_by_text("Compare networks").click()
        page.get_by_text("For this photo, auto uses modnet").wait_for(timeout=90_000)
        wait_for_idle(page)
        frame = page.frame_locator("iframe").first
        assert "u2netp (raw)" in frame.locator("body").inner_text()
        page.screenshot(path=ARTIFACTS / "03b-compare-networks.png", full_page=True)

        # Tuning: move a slider and see the preview change.
        go_to(page, "Refinement tuning")
        preview = page.get_by_test_id("stImage").filter(has_text="Refined mask (preview)").locator("img")
        before = preview.get_attribute("src")
        thumb = page.get_by_role("slider", name="Edge softness")
        thumb.focus()
        for _ in range(20):
            thumb.press("ArrowRight")
        wait_for_new_picture(page, before, timeout=30_000)
        wait_for_idle(page)
        assert preview.get_attribute("src") != before
        page.get_by_test_id("stMain").evaluate("main => main.scrollTo(0, 0)")
        page.screenshot(path=ARTIFACTS / "04-tuning.png", full_page=True)

        # Sidebar: with a single network chosen, a network-input switch runs the network again and stays set
        # across pages (the default combination shows each network the photo as measured best).
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_test_id("stSelectbox").click()
        page.get_by_role("option", name="u2netp (bundled)").click()
        sidebar.get_by_text("U²-Net† lite").wait_for(timeout=60_000)
        wait_for_idle(page)
        sidebar.get_by_text("Network input").click()
        flip = sidebar.get_by_test_id("stCheckbox").filter(has_text="Flip")
        assert flip.locator("input").is_checked()  # on by default
        before = preview.get_attribute("src")
        flip.locator("label").click()
        wait_for_new_picture(page, before, timeout=60_000)
        wait_for_idle(page)
        assert not flip.locator("input").is_checked()
        page.screenshot(path=ARTIFACTS / "05-network-input.png", full_page=True)
        go_to(page, "Mask inspector")
        page.get_by_test_id("stSidebar").get_by_text("Network input").click()
        flip = page.get_by_test_id("stSidebar").get_by_test_id("stCheckbox").filter(has_text="Flip")
        assert not flip.locator("input").is_checked()  # the same setting on every page

        # A hostile file name renders as literal text: no link, no HTML, no formatting.
        go_to(page, "Replace background")
        hostile = tmp_path / "[click](javascript:alert(1)) <b>bold **x**.png"
        Image.fromarray(astronaut[:, ::-1]).save(hostile, format="PNG")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(hostile))
        page.get_by_text(f"Done: {hostile.name}", exact=True).wait_for(timeout=90_000)
        wait_for_idle(page)
        main = page.get_by_test_id("stMain")
        assert main.locator("b, strong, a[href^='javascript']").count() == 0

        assert not errors, errors
        assert page.get_by_test_id("stException").count() == 0
