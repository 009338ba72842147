"""In real Chromium at common window sizes: the tuning preview stays in view, the zoom is at 100 %, and no
request leaves the machine (issue 12)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser_support import (
    ARTIFACTS, chromium_browser, require_chromium, streamlit_server, wait_for_idle, wait_for_new_picture,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] * 0.5 <= size["height"]


@pytest.mark.parametrize("window", [(1440, 900), (1280, 720)], ids=["1440x900", "1280x720"])
def test_tuning_preview_stays_in_view_and_nothing_leaves_the_machine(window):
    require_chromium()
    with streamlit_server() as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": window[0], "height": window[1]})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(server.url)
        wait_for_idle(page)
        page.get_by_role("button", name="Run the demo on a sample portrait").click()
        page.get_by_text("Cut out (transparent background)").wait_for(timeout=90_000)
        wait_for_idle(page)

        page.get_by_test_id("stSidebarNavLink").filter(has_text="Refinement tuning").click()
        page.get_by_text("Refined mask (preview)").wait_for(timeout=60_000)
        wait_for_idle(page)
        preview = page.get_by_test_id("stImage").filter(has_text="Result (preview)")
        preview.scroll_into_view_if_needed()
        page.get_by_text("Advanced: every step").click()
        last = page.get_by_role("slider").last  # the lowest control of the scrolling box
        last.scroll_into_view_if_needed()
        before = preview.locator("img").get_attribute("src")
        last.focus()
        for _ in range(5):
            last.press("ArrowRight")
        wait_for_new_picture(page, before, timeout=30_000)
        wait_for_idle(page)
        last.scroll_into_view_if_needed()  # where the user keeps it while trying values: the box scrolls, not the page
        assert _in_view(page, last), "the last slider cannot be brought into view"
        assert _in_view(page, preview.locator("img")), "the preview is out of view while the last slider is in view"
        page.screenshot(path=ARTIFACTS / f"07-tuning-last-slider-{window[0]}x{window[1]}.png")

        if window == (1440, 900):  # the zoom crop at its own pixel size
            page.get_by_test_id("stSidebarNavLink").filter(has_text="Mask inspector").click()
            page.get_by_text("Zoom at 100 %").wait_for(timeout=60_000)
            wait_for_idle(page)
            crop = page.get_by_test_id("stImage").filter(has_text="Refined mask").last.locator("img")
            crop.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=crop.element_handle(), timeout=30_000)
            natural, drawn = crop.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
            assert natural == 256 and abs(drawn - 256) <= 1, (natural, drawn)
            page.screenshot(path=ARTIFACTS / "08-inspector-zoom-1440x900.png")

        outside = sorted({url for url in requests if urlparse(url).hostname not in ("127.0.0.1", None) and not url.startswith("data:")})
        assert not outside, f"requests that left the machine: {outside}"
