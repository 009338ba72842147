"""Shared Streamlit AppTest helpers for the dashboard tests: page paths, photos, media recording and app driving."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

import ui.state

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "Home.py")
REPLACE = "pages/1_Replace_background.py"
TOUCHUP = "pages/2_Touch_up.py"
INSPECT = "pages/3_Mask_inspector.py"
TUNING = "pages/4_Refinement_tuning.py"
BATCH = "pages/5_Batch.py"
TIMEOUT = 60


# ------------------------------------------------------------------------------------------ photos


def encode(image: np.ndarray, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt, **options)
    return buf.getvalue()


def synthetic_portrait(height: int = 300, width: int = 220, seed: int | None = None) -> np.ndarray:
    """A head-and-shoulders figure on a gradient backdrop, uint8 HxWx3, with per-pixel noise.

    `seed=None` draws fresh noise, so the bytes are new to the process-wide prediction cache.
    """
    rng = np.random.default_rng(uuid.uuid4().int if seed is None else seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.empty((height, width, 3), np.float32)
    image[...] = np.stack([60 + 80 * yy / height, 120 + 60 * xx / width, np.full_like(yy, 200)], axis=-1)
    head = ((xx - width / 2) / (width * 0.18)) ** 2 + ((yy - height * 0.35) / (height * 0.16)) ** 2 <= 1
    shoulders = (yy > height * 0.55) & (np.abs(xx - width / 2) < (yy - height * 0.45) * 0.9)
    image[head] = (224, 172, 140)
    image[shoulders] = (40, 40, 60)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ media files


class MediaRecorder:
    """Keeps every media file that the app's runs store, and the manager of the latest run.

    AppTest gives each run a new in-memory media store and drops it afterwards, so an image element only
    carries a URL such as `/mock/media/<id>.jpg`. Patching the two factories AppTest uses makes every run
    share one store (files are never deleted in AppTest) and lets a test run deferred download callables
    exactly as the server does when the button is clicked.
    """

    def __init__(self) -> None:
        from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

        self.storage = MemoryMediaFileStorage("/mock/media")
        self.managers: list = []

    def content(self, url: str) -> bytes:
        return self.storage.get_file(url.rsplit("/", 1)[-1]).content

    def image_bytes(self, element) -> bytes:
        return self.content(element.proto.imgs[0].url)

    def image(self, element) -> np.ndarray:
        with Image.open(io.BytesIO(self.image_bytes(element))) as img:
            return np.asarray(img)

    def download(self, button) -> bytes:
        """The bytes a download button delivers (runs its deferred callable, as a click does)."""
        proto = button.proto
        if proto.HasField("deferred_file_id"):
            return self.content(self.managers[-1].execute_deferred(proto.deferred_file_id))
        return self.content(proto.url)


# -------------------------------------------------------------------------------------- app helpers


def assert_clean(at: AppTest) -> AppTest:
    """No uncaught exception and no error message on the page that just ran."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def assert_no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def new_app(model: str | None = None) -> AppTest:
    """A new session on Home; `model` chooses a model in the sidebar first (default: the default model)."""
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
    if model is not None:
        at.session_state[ui.state.MODEL] = model
    return assert_clean(at.run())


def go(at: AppTest, page: str) -> AppTest:
    return at.switch_page(page).run()


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png", key: str = "photo_upload") -> AppTest:
    return at.file_uploader(key=key).set_value((name, data, mime)).run()


def expander(at: AppTest, label: str):
    """The expander whose label starts with `label`."""
    return next(e for e in at.expander if e.label.startswith(label))


def timings(at: AppTest):
    """The Replace page's "Timings per stage" expander."""
    return expander(at, "Timings per stage")


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)
