"""Four browser sessions at once on one server: no cross-talk, no errors, one model, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.browser_support import ARTIFACTS, chromium_browser, require_chromium, streamlit_server, wait_for_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSIONS = 4
UPLOADS_PER_SESSION = 10
RSS_BOUND_MB = 1500  # stated bound for the server after 40 uploads (README: "Many users at once")


def _variant(astronaut: np.ndarray, session: int, upload: int) -> Image.Image:
    """A distinct photo per (session, upload): its own crop and width, so a mix-up shows in the size."""
    width = 300 + 8 * (session * UPLOADS_PER_SESSION + upload)
    left = (session * 17 + upload * 5) % 40
    crop = astronaut[20:500, left:left + 470]
    if session % 2:
        crop = crop[:, ::-1]
    return Image.fromarray(np.ascontiguousarray(crop)).resize((width, int(width * crop.shape[0] / crop.shape[1])))


def test_four_sessions_upload_in_parallel_without_cross_talk(tmp_path, astronaut):
    require_chromium()
    with streamlit_server() as server, chromium_browser() as browser:
        pages = []
        for session in range(SESSIONS):
            page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.goto(f"{server.url}/Replace_background")
            wait_for_idle(page)
            pages.append((page, errors))
        for upload in range(UPLOADS_PER_SESSION):
            expected = {}
            for session, (page, _) in enumerate(pages):  # start all four uploads before waiting for any
                image = _variant(astronaut, session, upload)
                path = tmp_path / f"s{session}-u{upload}.png"
                image.save(path)
                expected[session] = (path.name, image.size)
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
            for session, (page, _) in enumerate(pages):
                name, (width, height) = expected[session]
                page.get_by_text(f"Done: {name}").wait_for(timeout=120_000)
                wait_for_idle(page)
                original = page.get_by_test_id("stImage").filter(has_text="Original").locator("img")
                # the element can exist before the browser has loaded its picture: wait for the load
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=original.element_handle(), timeout=30_000)
                natural = original.evaluate("img => [img.naturalWidth, img.naturalHeight]")
                assert natural == [width, height], f"session {session} upload {upload} shows another photo"
                assert page.get_by_test_id("stException").count() == 0
                assert page.get_by_test_id("stAlert").count() == 0
        pages[0][0].screenshot(path=ARTIFACTS / "05-concurrent-session.png")
        rss = server.rss_mb()
        for _, errors in pages:
            assert not errors, errors
        log = server.log.read_text()
        assert log.count("[portrait-studio] loading model") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        (ARTIFACTS / "concurrency-rss.txt").write_text(f"server RSS after {SESSIONS * UPLOADS_PER_SESSION} uploads: {rss:.0f} MB\n")
        assert rss < RSS_BOUND_MB
