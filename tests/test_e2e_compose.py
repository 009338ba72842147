"""End to end in real headless Chromium: the Replace page's passport preset, downloaded at its size and DPI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.id_presets import ID_PRESETS
from tests.browser_support import (
    ARTIFACTS, chromium_browser, click_download, go_to, require_chromium, streamlit_server, wait_for_idle, watch_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def choose(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick `option` in the select box labelled `label` (a rerun that redraws the page closes an open list: then
    open it again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        wait_for_idle(page)
        page.get_by_test_id("stSelectbox").filter(has_text=label).locator("input").click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    wait_for_idle(page)


def test_passport_preset_in_a_real_browser(tmp_path, astronaut):
    require_chromium()
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    with streamlit_server("app.py") as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        problems = watch_page(page)
        page.goto(server.url)
        wait_for_idle(page)
        go_to(page, "Replace background")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(photo))
        page.get_by_text("Done: astronaut.png").wait_for(timeout=90_000)
        wait_for_idle(page)
        page.get_by_text("Result: 512 × 512 px").wait_for()

        page.get_by_text("Framing, ID photo and shadow").click()
        page.get_by_text("Reframe the subject").wait_for()
        choose(page, "ID photo", "passport-35x45")
        page.get_by_text("Result: 413 × 531 px at 300 DPI").wait_for(timeout=60_000)
        page.screenshot(path=ARTIFACTS / "compose-passport.png", full_page=True)

        download = click_download(page, "Result (PNG)")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        with Image.open(saved) as img:
            assert img.size == (413, 531) and img.info["dpi"] == pytest.approx((300, 300), abs=0.01)
            corner = np.asarray(img.convert("RGB"))[:15, :15].astype(int)
        assert np.abs(corner - ID_PRESETS["passport-35x45"].background).max() <= 2

        # A print sheet of it: 4x6 in at 300 DPI.
        page.get_by_text("Print sheet (10x15 cm)").click()
        page.get_by_text("Result: 1800 × 1200 px at 300 DPI").wait_for(timeout=60_000)
        download = click_download(page, "Result (JPEG)")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        with Image.open(saved) as img:
            assert img.size == (1800, 1200) and img.info["dpi"] == (300, 300)
        page.screenshot(path=ARTIFACTS / "compose-print-sheet.png", full_page=True)
        assert not problems.errors and not problems.outside, problems
