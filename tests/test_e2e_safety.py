"""In real Chromium: a hostile background strip gets a message and costs no memory; odd names show literally."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.browser_support import ARTIFACTS, chromium_browser, require_chromium, streamlit_server, wait_for_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_strip_background_and_markdown_name_in_a_real_browser(tmp_path, astronaut):
    require_chromium()
    photo = tmp_path / ":red[red] photo.png"
    Image.fromarray(astronaut).save(photo)
    strip = tmp_path / "strip.png"
    Image.new("RGB", (20000, 1), (0, 90, 200)).save(strip)
    assert strip.stat().st_size < 1000
    with streamlit_server() as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/Replace_background")
        wait_for_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(photo))
        page.get_by_text("Done: :red[red] photo.png", exact=True).wait_for(timeout=90_000)  # shown literally
        wait_for_idle(page)
        before = server.rss_mb()

        page.get_by_test_id("stRadio").get_by_text("Image").click()
        wait_for_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(1).set_input_files(str(strip))
        page.get_by_text("20000x1 pixels").wait_for(timeout=60_000)
        wait_for_idle(page)
        assert "50:1" in page.get_by_test_id("stAlert").first.inner_text()
        assert page.get_by_test_id("stImage").count() == 3  # the result stays (on white)
        assert page.get_by_test_id("stException").count() == 0
        page.screenshot(path=ARTIFACTS / "06-strip-background.png", full_page=True)
        after = server.rss_mb()
        assert after - before < 200, f"server RSS went from {before:.0f} to {after:.0f} MB"  # before: +4.7 GB
        assert not errors, errors
        assert "Traceback" not in server.log.read_text()
