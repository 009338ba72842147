"""End to end in real headless Chromium: the Batch page with `python app.py` (the streamed ZIP route)."""

from __future__ import annotations

import io
import re
import time
import zipfile
from urllib.parse import urljoin

import numpy as np
import pytest
from PIL import Image

from core.memory import ALLOCATOR_ENVIRONMENT
from tests.browser_support import (
    ARTIFACTS, chromium_browser, go_to, require_chromium, streamlit_server, wait_for_idle, watch_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_batch_of_photos_and_a_zip_in_a_real_browser(tmp_path, astronaut):
    require_chromium()
    files = []
    for index in range(5):
        path = tmp_path / f"p{index}.jpg"
        Image.fromarray(np.roll(astronaut, 50 * index, axis=1)).save(path, quality=90)
        files.append(path)
    archive = tmp_path / "shoot.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(files[0], "shoot/z0.jpg")
        zipped.writestr("shoot/z1.png", (lambda b: (Image.fromarray(astronaut[:, ::-1]).save(b, "PNG"), b.getvalue())[1])(io.BytesIO()))
        zipped.writestr("shoot/broken.jpg", b"\xff\xd8 not a photo")
    files.append(archive)
    with streamlit_server("app.py") as server, chromium_browser() as browser:
        # `python app.py` started the server (the same process, exec'd) with the allocator set up (core.memory)
        assert ALLOCATOR_ENVIRONMENT.items() <= server.environment().items()
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        problems = watch_page(page)
        page.goto(server.url)
        wait_for_idle(page)
        go_to(page, "Batch")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files([str(f) for f in files])
        page.get_by_text("8 in the batch").wait_for(timeout=60_000)
        wait_for_idle(page)
        page.get_by_role("button", name="Start").click()
        page.get_by_text("8 in the batch: 7 done, 1 could not be used, 0 to go").wait_for(timeout=300_000)
        wait_for_idle(page)
        page.screenshot(path=ARTIFACTS / "batch-01-grid.png", full_page=True)
        assert page.get_by_text("Needs-a-look score").count() == 7
        assert page.get_by_text("Could not be used: ").count() == 1

        page.get_by_role("button", name="Make the ZIP").click()
        link = page.get_by_role("link", name="Download portrait-studio-batch.zip")
        link.wait_for(timeout=60_000)
        response = page.request.get(urljoin(server.url, link.get_attribute("href")))
        assert response.status == 200 and "attachment" in response.headers["content-disposition"]
        listed = sorted(zipfile.ZipFile(io.BytesIO(response.body())).namelist())
        assert len(listed) == 21 and "cutouts/z1-cutout.png" in listed and "masks/p4-mask.png" in listed
        assert page.request.get(server.url + "/batch-download/not-a-token/portrait-studio-batch.zip").status == 404

        names = [t for t in page.locator("strong").all_text_contents() if t.endswith((".jpg", ".png"))]
        assert len(names) == 8 and names[0].endswith("broken.jpg")  # the failure first, then the worst-scored
        worst = names[1]
        page.get_by_role("button", name="Touch up").first.click()
        page.wait_for_url("**/Touch_up", timeout=60_000)
        wait_for_idle(page)
        page.locator("canvas.ps-canvas").wait_for(timeout=60_000)
        assert page.get_by_text(f"0 edits on {worst.rsplit('/', 1)[-1]}").count() == 1
        page.screenshot(path=ARTIFACTS / "batch-02-touchup.png")
        assert not problems.errors, problems.errors
        assert not problems.outside, problems.outside


def test_cancel_stops_after_the_current_photo_and_keeps_what_is_done(tmp_path, astronaut):
    require_chromium()
    files = []
    for index in range(8):
        path = tmp_path / f"c{index}.jpg"
        Image.fromarray(np.roll(astronaut, 30 * index, axis=0)).save(path, quality=90)
        files.append(str(path))
    with streamlit_server("app.py") as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(server.url)
        wait_for_idle(page)
        go_to(page, "Batch")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(files)
        page.get_by_text("8 in the batch").wait_for(timeout=60_000)
        wait_for_idle(page)
        page.get_by_role("button", name="Start").click()
        # At least two photos done and another running. Not "2 of 8" exactly: a photo takes about half a second
        # now, and under load the browser can draw the bar's next state before it ever shows that one.
        page.get_by_text(re.compile(r"^[2-6] of 8 · now")).wait_for(timeout=120_000)
        page.get_by_role("button", name="Cancel").click()
        wait_for_idle(page)
        caption = page.get_by_text("8 in the batch:").text_content()
        done = int(caption.split(": ")[1].split(" done")[0])
        finishing = int(caption.split(", ")[3].split(" being")[0]) if "being finished" in caption else 0
        assert 2 <= done < 8 and f"{8 - done - finishing} to go" in caption and finishing <= 1
        assert page.get_by_text("Needs-a-look score").count() == done
        deadline = time.monotonic() + 180
        while True:  # nothing runs on after Cancel but the photo it was processing: wait for that one only
            page.get_by_role("button", name="Make the ZIP").click()  # any rerun shows the batch as it is now
            wait_for_idle(page)
            later = page.get_by_text("8 in the batch:").text_content()
            if "being finished" not in later or time.monotonic() > deadline:
                break
            page.wait_for_timeout(2000)
        assert f"{done + finishing} done" in later and f"{8 - done - finishing} to go" in later, (caption, later)
        page.screenshot(path=ARTIFACTS / "batch-03-cancelled.png", full_page=True)
        page.get_by_role("button", name="Go on").click()
        page.get_by_text("8 in the batch: 8 done, 0 could not be used, 0 to go").wait_for(timeout=300_000)
